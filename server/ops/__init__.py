"""Operations: the ``fangpin`` command (``cli``), ``serve``'s supervisor and the demo township."""
