"""Pure: the household record — roster version 0, one version per applied survey, merges and
conflicts (``model``) — and which household a survey is of (``matching``)."""
