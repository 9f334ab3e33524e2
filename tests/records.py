"""Valid records of both forms, as a tablet would send them; tests corrupt copies of these."""

from __future__ import annotations

import copy
import datetime as dt

VILLAGE = "500112104201"
HOUSEHOLD = f"{VILLAGE}-0001"
# the current release of the household survey; the damage survey's is 2026120106, which changed no
# field (a record of 2026120105 is still checked against its own published version)
VERSION = "2026120105"
V1 = "2026112201"  # the first release, still published and checked
TODAY = dt.date(2026, 11, 22)  # the day every validation in the tests runs on

HEAD_ID = "11010519491231002X"  # valid: born 1949-12-31, female (17th digit 2)
SPOUSE_ID = "110105194801010032"  # valid: born 1948-01-01, male (17th digit 3)
CHILD_ID = "110105201503010010"  # valid: born 2015-03-01, male (17th digit 1)

ENVELOPE = {
    "village_code": VILLAGE,
    "household_id": HOUSEHOLD,
    "surveyor": "gw_a",
    "survey_date": "2026-11-20",
    "consent": "yes",
}

DAMAGE = {
    **ENVELOPE,
    "location": "29.71 106.63 310 5",
    "event_id": "500112104-2026-11-flood",
    "disaster_type": "flood",
    "disaster_date": "2026-11-18",
    "deaths": 0,
    "missing": 0,
    "injured_serious": 1,
    "injured_minor": 1,
    "main_labour_lost": "no",
    "casualties": [{"name": "李长生", "outcome": "injured_serious", "labour_before": "normal"}],
    "relocated": "dispersed",
    "house_damage": "severe",
    "house_structure": "brick_wood",
    "rooms_collapsed": 0,
    "rooms_severe": 3,
    "rooms_minor": 0,
    "rooms_damaged": 3,
    "only_dwelling": "yes",
    "safe_shelter": "no",
    "can_recover_alone": "partly",
    "crop_area_mu": 4.5,
    "crop_loss_band": "p30_80",
    "crops_main_income": "yes",
    "crop_affected_mu": 4.5,
    "crop_damaged_mu": 3,
    "crop_lost_mu": 1.5,
    "livestock_pigs": 2,
    "livestock_lost": 2,
    "water_cut_days": 10,
    "direct_loss_yuan": 32000.5,
    "income_drop_pct": 40,
    "urgent_needs": "food shelter",
    "insurance": "house anti_poverty",
    "relief_received": "food",
    "loans_due": "yes",
    "photos": [{"photo": "house-1.jpg"}],
}

HOUSEHOLD_SURVEY = {
    **ENVELOPE,
    "head_name": "王秀英",
    "head_id_number": HEAD_ID,
    "phone": "13800138000",
    "category": "lifted",
    "welfare": "dibao disability_allowance",
    "relocated_household": "no",
    "members": [
        {
            "name": "王秀英",
            "id_number": HEAD_ID,
            "sex": "female",
            "relation": "head",
            "birth_date": "1949-12-31",
            "health": "chronic",
            "labour": "weak",
            "school": "primary",
            "medical_insurance": "yes",
        },
        {
            "name": "李长生",
            "id_number": SPOUSE_ID,
            "sex": "male",
            "relation": "spouse",
            "birth_date": "1948-01-01",
            "health": "disabled",
            "disability_type": "physical",
            "disability_grade": 2,
            "labour": "lost",
            "school": "none",
            "medical_insurance": "yes",
        },
        {
            "name": "李小明",
            "id_number": CHILD_ID,
            "sex": "male",
            "relation": "grandson",
            "birth_date": "2015-03-01",
            "health": "healthy",
            "labour": "none",
            "school": "primary",
            "out_of_school": "no",
            "medical_insurance": "yes",
        },
    ],
    "income_wage": 12000,
    "income_business": 3000,
    "income_property": 0,
    "income_transfer": 2400.5,
    "cost_business": 800,
    "expense_medical_oop": 1500,
    "expense_education": 600,
    "last_year_income": 18000,
    "housing_grade": "B",
    "water_quantity_ok": "yes",
    "water_quality_ok": "yes",
    "water_access_ok": "yes",
    "water_outage_days": 0,
    "risk_types": "disaster illness",
    "notes": "",
}

DATA = {"damage_survey": DAMAGE, "household_survey": HOUSEHOLD_SURVEY}


def data(form_id: str, version: str = VERSION) -> dict:
    out = copy.deepcopy(DATA[form_id])
    return picked(out, version)


# What release 2026120105 added, and the relations it splits (the national system's list)
NEW_IN_05 = {"house_structure", "rooms_collapsed", "rooms_severe", "rooms_minor", "can_recover_alone",
             "crop_affected_mu", "crop_damaged_mu", "crop_lost_mu", "livestock_pigs", "livestock_cattle",
             "livestock_sheep", "livestock_poultry", "livestock_other", "insurance", "relief_received", "loans_due",
             "welfare", "relocated_household", "monitoring_category", "disability_type", "consent_photo",
             "casualties"}  # fmt: skip
OLD_RELATION = {"son": "child", "daughter": "child", "son_in_law": "child", "daughter_in_law": "child",
                "grandson": "grandchild", "granddaughter": "grandchild", "grandson_maternal": "grandchild",
                "granddaughter_maternal": "grandchild", "father": "parent", "mother": "parent",
                "father_in_law": "parent", "mother_in_law": "parent"}  # fmt: skip


def picked(answers: dict, version: str = VERSION) -> dict:
    """The answers as ``version`` of the form collects them: the household picked from the list
    or new (release 2026120102 on), release 2026120105's questions only from that release on."""
    if version < "2026120105":
        for key in NEW_IN_05:
            answers.pop(key, None)
        for member in answers.get("members") or []:
            if isinstance(member, dict):
                for key in NEW_IN_05:
                    member.pop(key, None)
                member["relation"] = OLD_RELATION.get(member.get("relation"), member.get("relation"))
    if version < "2026120102":
        return answers
    for key in ("is_new", "household_pick", "new_household_id", "household_scan"):
        answers.pop(key, None)
    hid = answers.get("household_id")
    if isinstance(hid, str) and hid.startswith("new-"):
        answers.update(is_new="yes", new_household_id=hid)
    else:
        answers.update(is_new="no", household_pick=hid)
    return answers


def submission(form_id: str, uuid: str = "s1", rev: str = "1-a", **over) -> dict:
    doc = {
        "_id": f"submission:{uuid}",
        "_rev": rev,
        "type": "submission",
        "form_id": form_id,
        "form_version": VERSION,
        "village_code": VILLAGE,
        "household_id": HOUSEHOLD,
        "household_base_version": 0,
        "submitted_by": "gw_a",
        "device_id": "tab-1",
        "started_at": "2026-11-20T09:00:00+08:00",
        "completed_at": "2026-11-20T09:20:00+08:00",
        "data": data(form_id),
    }
    doc.update(over)
    if isinstance(doc.get("data"), dict) and "data" not in over:  # the form repeats the envelope's place
        doc["data"] = data(form_id, str(doc.get("form_version")))
        doc["data"]["village_code"] = doc.get("village_code")
        doc["data"]["household_id"] = doc.get("household_id")
        picked(doc["data"], str(doc.get("form_version")))
    return doc


def make_id(birth: str, serial: int, area: str = "110105") -> str:
    """A GB 11643 number for ``birth`` (YYYYMMDD); an odd ``serial`` makes a man."""
    from server.validation import idcard

    body = f"{area}{birth}{serial:03d}"
    return body + idcard.check_char(body)
