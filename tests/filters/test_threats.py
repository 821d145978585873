"""Threat wording as structure (filters/threat_cues.py) and as the risk filter reports it.

Every line here is written for schoolgate in a pupil's voice; none comes from a corpus."""
from __future__ import annotations

import pytest

from filters import threat_cues
from filters.base import FilterContext, Role
from filters.risk import Options, RiskFilter
from filters.text.model import prepare

DIRECT = [
    "I'm going to stab you",
    "ill batter u after school",
    "im gonna smash your face in on friday",
    "I swear I'll kill you if you tell anyone",
    "we are going to jump you at the bus stop",
    "imma beat the crap out of you tomorrow",
    "my brother is going to batter you",
    "ill break your legs",
    "I will put you in hospital",
    "were coming for you",
    "i want to punch him so hard",
    "imma shank him",
    "if you tell anyone ill hurt you",
    "i'll make you regret it",
    "say that again and ill knock you out",
]
CONDITIONAL = [
    "you'll regret it",
    "you will regret saying that",
    "watch your back",
    "you're dead on monday",
    "ur dead after school mate",
    "someone should shoot them all",
    "they deserve to be hanged",
    "I hope you get your head kicked in",
    "i hope you die",
    "i hope he gets stabbed",
    "your days are numbered",
    "just wait till i get you",
    "you're going to get hurt",
    "ur getting merked after school",
    "everyone in that group chat is getting stabbed",
]
GROUP = [
    "all of them should be killed",
    "people like them should be shot",
    "time to wipe them all out",
    "we need to kill every last one",
    "im going to shoot the next foreigner i see",
    "i want to murder all the gypsies in this town",
    "refugees should be wiped out",
    "travellers deserve to die",
    "gay people should be hanged",
    "death to all immigrants",
    "we should massacre the lot",
]
WEAPON = [
    "bringing my brother's knife tomorrow",
    "im bringing a blade to school",
    "i've got a knife in my bag for him",
    "my knife has got your name on it",
]
DISCLOSURE = [
    "he said he is going to stab me",
    "he said he'd stab me",
    "they keep saying they'll jump me",
    "this boy in year 10 keeps telling me he will beat me up",
    "she threatened to hit me",
    "some lads are going to jump me after school",
    "he pulled a knife on me at the park",
    "he threatened me with a knife",
    "he keeps saying hes gonna batter me at the park",
    "my ex said she would hurt me if i left",
]
NOT_THREATS = [
    "I'll kill you at fortnite",
    "ill destroy you in fifa later lol",
    "this homework is killing me",
    "dying of laughter at this",
    "shoot me an email when you can",
    "kill the process and restart it",
    "that really hurt my feelings",
    "my mum is going to kill me when she sees my report",
    "threats like 'I'll kill you' are never OK",
    "If someone says they will hurt you, tell a trusted adult",
    "In 1605 Guy Fawkes planned to blow up Parliament",
    "He was shot in 1916 after the Easter Rising",
    "I would never hurt you",
    "no one deserves to die like that",
    "I'll get you a drink at break",
    "can you hit me up later",
    "ill cut you some slack this time",
    "you'll regret not coming to the party, it was amazing",
    "the scenes should be shot in black and white",
    "the old processes should be killed before the upgrade",
    "the zombies should be killed with fire arrows in the game",
    "we need to kill time before the bus comes",
    "my dad will kill me if i'm late",
    "you'll wish you were here, the beach is lovely",
    "i hope you get better soon",
    "in Macbeth, he says he will kill the king",
    "you are dead right about that",
    "lets get rid of the old printers",
    "beat you to it!",
    "ill end the call now",
    "im going to smash this test",
    "she said she'd pick me up after school",
    "he said he will text me later",
    "i could murder a pizza right now",
    "the teacher is going to kill us if we are late",
    "she killed it at the concert",
    "i'm going to beat my record",
    "my legs are killing me after pe",
    "can u shoot me a text",
    "he got stabbed in the back by his best mate in the play",
    "im going to kill all the zombies on level 3 tonight",
    "i'll shoot all the photos for the yearbook",
    "we're going to smash all our targets this term",
    "the old files should be wiped out before the audit",
    "weeds should be killed before they seed",
    "ill shoot some hoops after school",
    "millions of people were killed in the war",
    "the teacher said we should never say people deserve to die",
]


@pytest.mark.parametrize("kind,text", [("direct", t) for t in DIRECT] + [("conditional", t) for t in CONDITIONAL]
                         + [("group", t) for t in GROUP] + [("weapon", t) for t in WEAPON]
                         + [("disclosure", t) for t in DISCLOSURE])
def test_threat_wordings_are_found_with_their_kind(kind: str, text: str) -> None:
    found = threat_cues.find(prepare(text))
    assert found is not None, text
    # a disclosure is always read as one; the other kinds overlap ("you'll regret it" after a weapon)
    if kind == "disclosure":
        assert found.kind == "disclosure"
    else:
        assert found.kind != "disclosure"


@pytest.mark.parametrize("text", NOT_THREATS)
def test_idioms_games_history_and_condemnation_are_not_threats(text: str) -> None:
    assert threat_cues.find(prepare(text)) is None, text


def test_may_threaten_is_a_cheap_superset() -> None:
    for text in DIRECT + CONDITIONAL + GROUP + WEAPON + DISCLOSURE:
        assert threat_cues.may_threaten(prepare(text))
    assert not threat_cues.may_threaten(prepare("see you in maths, bring your calculator"))


@pytest.fixture(scope="module")
def flt() -> RiskFilter:
    return RiskFilter(Options(), FilterContext(settings=None, directory=None))


def threat_finding(flt: RiskFilter, text: str, sender: Role = Role.STUDENT):
    found = [f for f in flt.analyse([text], sender, (Role.STUDENT,)) if f.code == "RISK_VIOLENT_THREAT"]
    return found[0] if found else None


@pytest.mark.parametrize("text", DIRECT + CONDITIONAL + GROUP + WEAPON + DISCLOSURE)
def test_the_risk_filter_reports_every_wording(flt: RiskFilter, text: str) -> None:
    finding = threat_finding(flt, text)
    assert finding is not None, text
    assert finding.level >= 4 and finding.evidence and all(e in text for e in finding.evidence)


@pytest.mark.parametrize("text", NOT_THREATS)
def test_the_risk_filter_reports_no_threat_for_idioms_games_history_or_condemnation(flt: RiskFilter, text: str) -> None:
    assert threat_finding(flt, text) is None, text


def test_a_disclosure_is_worded_as_the_writer_threatened_not_threatening(flt: RiskFilter) -> None:
    finding = threat_finding(flt, "hi miss, he said he is going to stab me and i dont want to come in")
    assert "disclosure" in finding.reason and "threatened" in finding.reason and finding.level == 4
    assert finding.evidence == ("hi miss, he said he is going to stab me and i dont want to come in",)


def test_a_weapon_with_a_time_or_place_is_level_5(flt: RiskFilter) -> None:
    finding = threat_finding(flt, "bringing my brother's knife tomorrow. he wont know what hit him")
    assert finding.level == 5 and "knife" in finding.reason
    assert threat_finding(flt, "you'll regret it").level == 4


def test_a_threat_in_a_longer_message_is_found_by_its_sentence(flt: RiskFilter) -> None:
    text = ("did you finish the science worksheet? i got stuck on question 4.\n"
            "also tell jake he's dead on monday for what he said about my sister.\n"
            "see you at lunch")
    finding = threat_finding(flt, text)
    assert finding is not None and "dead on monday" in " ".join(finding.evidence)
    assert "worksheet" not in " ".join(finding.evidence)


def test_quoted_threats_are_not_the_writers_and_the_rules_can_be_turned_off(flt: RiskFilter) -> None:
    forwarded = "sir this is what he sent me\n\n> you're dead on monday"
    assert threat_finding(flt, forwarded) is None  # a pupil forwarding a threat is reporting it
    off = RiskFilter(Options(threat_rules=False), FilterContext(settings=None, directory=None))
    on = threat_finding(flt, "they keep saying they'll jump me")
    assert on is not None and "read from the sentence's wording: disclosure" in on.reason
    assert threat_finding(off, "they keep saying they'll jump me") is None


@pytest.mark.parametrize("text", [
    # reported belief and news are not the writer's threat
    "the article explains his belief that all of the rebels should be executed",
    "according to the report, the gang claimed that the witnesses should be shot",
    # photography
    "the photographers shoot all digital and send the pictures on a memory stick",
    "we will shoot all the wedding portraits outside",
])
def test_reported_beliefs_and_photography_are_not_threats(text: str) -> None:
    assert threat_cues.find(prepare(text)) is None, text


def test_the_anchor_scan_keeps_every_sentence_find_can_match() -> None:
    """candidate_sentences() is only a shortcut: every fixture threat, alone or inside ordinary
    lines, keeps its sentence; ordinary sentences are skipped."""
    from filters.text import sentences
    from filters.text.model import model_text
    filler = "See you in maths tomorrow. Bring your calculator and the worksheet."
    for text in DIRECT + CONDITIONAL + GROUP + WEAPON + DISCLOSURE:
        message = f"{filler}\n{text}\n{filler}"
        spans = sentences.spans(message)
        kept = threat_cues.candidate_sentences(model_text(message), spans)
        assert any(threat_cues.find(prepare(message[spans[i][0]:spans[i][1]])) for i in kept), text
        assert not [i for i in kept if "calculator" in message[spans[i][0]:spans[i][1]]]


def test_schoolgate_scan_reports_a_threat_disclosure_to_a_teacher(tmp_path) -> None:
    """Through the command a network manager runs: a pupil telling a teacher they were threatened,
    and a pupil's game chat, through the shipped chain."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from tests.factories import site_toml_virus
    root = Path(__file__).resolve().parents[2]
    school, pupils = "school.sch.uk", "pupils.school.sch.uk"
    pupil, staff = f"pupil@{pupils}", f"teacher@{school}"
    site = tmp_path / "site.toml"
    site.write_text(f'[school]\ndomains = ["{school}", "{pupils}"]\n'
                    f'[directory]\ndomain_roles = {{ "{pupils}" = "student", "{school}" = "staff" }}\n'
                    f'[quarantine]\npath = "q"\n' + site_toml_virus(), encoding="utf-8")
    cases = {"told.eml": "Hi Miss, he said he is going to stab me after school. I don't want to come in.",
             "game.eml": "lol I'll kill you at fortnite tonight, get on at 7"}
    out = {}
    for name, body in cases.items():
        (tmp_path / name).write_bytes(f"From: {pupil}\r\nTo: {staff}\r\nSubject: hi\r\n\r\n{body}\r\n".encode())
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "scan", "--config", str(site), "--mail-from", pupil,
             "--rcpt", staff, str(tmp_path / name)], capture_output=True, text=True, timeout=180, cwd=root)
        assert result.returncode in (0, 1, 2), result.stderr
        out[name] = json.loads(result.stdout.splitlines()[-1])
    told = [f for f in out["told.eml"]["findings"] if f["code"] == "RISK_VIOLENT_THREAT"]
    assert told and "disclosure" in told[0]["reason"] and told[0]["level"] == 5  # a weapon word and a time
    assert told[0]["evidence"] == ["Hi Miss, he said he is going to stab me after school."]
    assert out["told.eml"]["action"] == "hold"
    assert not [f for f in out["game.eml"]["findings"] if f["code"] == "RISK_VIOLENT_THREAT"]
