"""The survey forms: committed XForms agree with their XLSForm sources and with the data contract."""

from __future__ import annotations

import pytest
from lxml import etree

from forms import FORM_IDS, XForm, build, build_all, built_path, shipped_forms

NS = {"x": "http://www.w3.org/2002/xforms", "h": "http://www.w3.org/1999/xhtml"}
ENVELOPE = {"village_code", "household_id", "surveyor", "survey_date", "location", "consent"}
META = {"start", "end", "today", "deviceid", "username"}  # ODK metadata, from 2026120101 on
PICKER = {"household_scan", "is_new", "household_pick", "new_household_id", "household_shown"}  # 2026120102 on
PROMPTS = {"damage_survey": {"consent_stop"}, "household_survey": {"consent_stop", "known_phone_shown"}}  # notes
# What release 2026120105 added beyond the domain's names, each documented in the README's contract
ADDED_05 = {
    "damage_survey": {
        "consent_photo", "household_base_version", "event_start", "house_structure", "rooms_collapsed",
        "rooms_severe", "rooms_minor", "can_recover_alone", "crop_affected_mu", "crop_damaged_mu", "crop_lost_mu",
        "livestock_pigs", "livestock_cattle", "livestock_sheep", "livestock_poultry", "livestock_other",
        "insurance", "relief_received", "loans_due", "casualties", "casualties_count", "casualties/member",
        "casualties/name", "casualties/outcome", "casualties/labour_before",
    },
    "household_survey": {"consent_photo", "household_base_version", "known_phone", "monitoring_category", "welfare",
                         "relocated_household", "members/disability_type"},
}  # fmt: skip
# Field names from ../shared/domain.md, the contract tablets and exports rely on.
CONTRACT = {
    "damage_survey": ENVELOPE
    | {
        "event_id",
        "disaster_type",
        "disaster_date",
        "deaths",
        "missing",
        "injured_serious",
        "injured_minor",
        "main_labour_lost",
        "relocated",
        "house_damage",
        "rooms_damaged",
        "only_dwelling",
        "safe_shelter",
        "crop_area_mu",
        "crop_loss_band",
        "crops_main_income",
        "livestock_lost",
        "water_cut_days",
        "direct_loss_yuan",
        "income_drop_pct",
        "urgent_needs",
        "photos",
        "photos/photo",
    },
    "household_survey": ENVELOPE
    | {
        "head_name",
        "head_id_number",
        "phone",
        "category",
        "members",
        "members/name",
        "members/id_number",
        "members/sex",
        "members/relation",
        "members/birth_date",
        "members/age",
        "members/health",
        "members/disability_grade",
        "members/labour",
        "members/school",
        "members/out_of_school",
        "members/medical_insurance",
        "income_wage",
        "income_business",
        "income_property",
        "income_transfer",
        "cost_business",
        "expense_medical_oop",
        "expense_education",
        "last_year_income",
        "housing_grade",
        "water_quantity_ok",
        "water_quality_ok",
        "water_access_ok",
        "water_outage_days",
        "risk_types",
        "notes",
    },
}


def fields(xml: bytes) -> set[str]:
    """The data's field paths (pages left out: they shape the instance, not the data)."""
    from forms.spec import spec_for

    return set(spec_for(xml).fields)


def test_built_xforms_agree_with_their_xlsform_sources():
    assert build_all(check=True) == []


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_field_names_are_the_data_contract(form_id):
    assert (
        fields(built_path(form_id).read_bytes())
        == CONTRACT[form_id] | META | PICKER | PROMPTS[form_id] | ADDED_05[form_id]
    )
    for older in shipped_forms():  # every released version keeps the contract's names
        if older.form_id == form_id:
            assert fields(older.xml) - META - PICKER - PROMPTS[form_id] - ADDED_05[form_id] == CONTRACT[form_id], (
                older.version
            )


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_every_field_beyond_the_domains_is_documented_in_the_readme(form_id):
    from sync.embedded import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    contract = readme[readme.index("### Field setup and ODK Collect") : readme.index("### API")]
    missing = {name for name in ADDED_05[form_id] | META | PICKER if f"`{name}`" not in contract}
    assert missing == set()


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_every_label_exists_in_chinese_and_english(form_id):
    root = etree.fromstring(built_path(form_id).read_bytes())
    translations = {
        t.get("lang"): {x.get("id") for x in t.findall("x:text", NS)}
        for t in root.findall("h:head/x:model/x:itext/x:translation", NS)
    }
    assert set(translations) == {"Chinese (zh)", "English (en)"}
    assert translations["Chinese (zh)"] == translations["English (en)"]
    assert len(translations["English (en)"]) > 20
    default = root.find("h:head/x:model/x:itext/x:translation[@default='true()']", NS)
    assert default.get("lang") == "Chinese (zh)"


def test_shipped_forms_carry_id_version_and_hash():
    forms = {f.form_id: f for f in shipped_forms()}
    assert set(forms) == set(FORM_IDS)
    for form in forms.values():
        assert len(form.version) == 10 and form.version.isdigit()
        assert form.md5.startswith("md5:") and len(form.md5) == 36
        assert form.doc_id == f"form:{form.form_id}:{form.version}"


def test_inline_xlsform_builds_and_parses():
    md = b"""
| survey   |          |          |                    |                    |
|          | type     | name     | label::Chinese (zh) | label::English (en) |
|          | integer  | rooms    | \xe9\x97\xb4\xe6\x95\xb0 | Rooms              |
| settings |          |          |
|          | form_id  | version  |
|          | tiny     | 2026010101 |
"""
    form = XForm.parse(build(md, file_type=".md"))
    assert (form.form_id, form.version) == ("tiny", "2026010101")


def test_xform_without_version_is_refused():
    md = b"""
| survey   |         |      |       |
|          | type    | name | label |
|          | integer | n    | N     |
"""
    with pytest.raises(ValueError, match="version"):
        XForm.parse(build(md, file_type=".md"))
