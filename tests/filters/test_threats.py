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


# urged, third-person, named targets, buildings, sexual violence, teen and hidden spellings
DIRECT_MORE = [
    "i'm going to kill you",
    'im gonna k1ll u',
    'ill st4b u tomorrow',
    'i will find you and hurt you',
    'i want to strangle her',
    'im going to stab jake tomorrow',
    'im gonna punch mr davies in the face',
    'ima smack you so hard',
    'i will rape you',
    'im going to r*pe her',
    'im going to shoot up the school on monday',
    "i'm going to bomb the school",
    "we're going to burn your house down",
    'im gonna burn down the mosque',
    "i'll slit your throat",
    'finna beat yo ass after school',
    'i will hunt you down',
    "i'm going to kill every last one of you",
    "i'm going to hurt you so bad",
    'im going to kill him 🔪',
    'ill 🔪 you',
    'i want to kill that teacher',
    'ill twat you one',
    'im boutta whoop your ass',
    'we should beat him up after school',
    'someone needs to stab that kid',
    'someone should kill mr harris',
    'one more word and ill break your nose',
    'i am going to murder you in your sleep',
    "i'll make sure you never walk again",
    "they're going to jump him after school",
    'we are going to get you',
    'i swear down im gonna merk him',
    'i want to kill myself and take you with me',
    "i'll stab u and ur mum",
    'im gonna shoot everyone in this school',
]

# wishes ("i want you dead", "id love to see them suffer"), veiled and sexual threats
CONDITIONAL_MORE = [
    "if i see you again you're dead",
    'i hope you die in a fire',
    'i hope your whole family dies',
    'i want you dead',
    'i want him dead',
    'id love to see you dead',
    "i'd love to see them suffer",
    'i cant wait to watch you bleed',
    'i want to see her suffer',
    'i hope u get hit by a bus',
    'you will die tonight',
    "you're going to die slowly",
    "someone's gonna get stabbed",
    'she deserves to be raped',
    'someone should rape her',
    'girls like you need to be raped',
    'he deserves a bullet',
    'you deserve to be beaten',
    'i hope someone stabs you',
    'you better watch yourself',
]

# calls for violence against groups named by identity (misogyny, race, religion, sexuality, disability, migrants)
GROUP_MORE = [
    'all muslims should be killed',
    'women deserve to be beaten',
    'trans people should be shot',
    'disabled people should be gassed',
    'black people need to be hanged',
    'jews should burn',
    'we should kill all the immigrants',
    'someone needs to shoot all the refugees',
    'kill all gays',
    'i want to see every muslim dead',
    'id love to see those immigrants suffer',
    'i hope all trans people die',
    'gay people deserve to be burned alive',
    'the only good immigrant is a dead immigrant',
    'we will slaughter every jew',
    'lets go and beat up some gays',
    'immigrants should be lined up and shot',
    'round them up and shoot them',
    'black people are vermin and should be exterminated',
    'i want all the foreigners dead',
    'every single feminist deserves to be raped',
    'muslims need to be wiped off the face of the earth',
    'lesbians should be beaten until they change',
    "i'm going to kill all the women in my class",
    'we should burn all the mosques',
    'they should all be shot, every last muslim',
    'hang all the immigrants',
    'disabled kids should be put down at birth',
    'someone should bomb the synagogue',
    'i think refugees should be drowned',
    'asians deserve to die',
    'shoot every immigrant on sight',
    'women should be raped for dressing like that',
    'gypsies should be burnt out of town',
]

# a group as the target of the writer's own intent, singular and plural
GROUP_INTENT = [
    "im going to beat up every immigrant i see",
    "id love to kill a muslim",
    "i will stab any gay who comes near me",
    "i want to cut every jew's throat",
    "we will not rest until every refugee is dead",
    "ill make sure every trans person suffers",
    "you feminists are all going to burn",
    "any foreigner who walks past my house will get stabbed",
    "disabled people deserve a slow death",
    "im going to make all the lesbians pay",
    "feminists need a good raping",
    "we need to get rid of muslims once and for all",
    "death to all trannies",
    "girls who dress like that deserve to be raped",
    "im going to run over the next cyclist i see",
    "we should execute all the immigrants",
    "trannies need to be eliminated",
    "muslims will be exterminated",
    "you jews are going to suffer",
    "its time to start killing the gays",
    "every refugee i see gets a beating",
    "i want all the travellers gassed",
    "that paedo needs a public hanging",
    "he should be nailed to a cross",
    "we'll put their heads on spikes",
    "shoot every muslim tomorrow",
    "the next person who calls me that is gonna get a bottle in the face",
    "i hope she gets sodomised",
]
NOT_GROUP_INTENT = [
    "we will not rest until every child can read",
    "make sure every pupil gets a copy",
    "you guys are all going to die laughing at this",
    "any parent who parks on the zigzags will get a letter",
    "we need to get rid of the old printers once and for all",
    "women who speak up deserve to be heard",
    "im going to beat every record in the school",
    "i'd love to meet a muslim family for my re project",
    "the poem describes a slow death in the trenches",
    "the disease needs to be eradicated",
    "people will be shot on location for the film",
    "immigrants are going to pay more tax under the new rules",
    "we should start shooting the photos of the year 7s at nine",
    "all of you are going to die of boredom in this lesson lol",
    "teachers will be paid extra for the trip",
    "we need to eliminate the kids' screen time",
    "i'll execute all the tests before lunch",
    "ill drown the pasta in pesto",
    "ill run over all the details with you tomorrow",
    "my dad needs a shooting lesson before the clay pigeons",
    "the painting needs hanging in the hall",
    "the next person who sits here gets a gold star",
    "heads on the desk everyone, quiet reading time",
    "i hope they all rot in hell",  # a curse, not a threat of violence
    "id like to shoot you a quick question about the trip",
    "ill track him down and ask about the form",
    "we should kill two birds with one stone",
    "i want to see them dead good at netball",
    "gas prices should be capped",
    "he's going to shoot for the stars",
    "they're going to jump him to the top of the list",
    "mum says she'll kill me if i lose my blazer again",
    "stab the potatoes with a fork before baking",
    "the branches should be burned in the bonfire",
    "people like that should burn in hell",
]
# veiled: a harm implied, not named
VEILED = [
    "you won't be walking home on friday",
    "see what happens to you tomorrow",
    "i know what bus you get",
    "you'll end up in a wheelchair",
    "nobody will ever find your body",
    "tell your mum to say goodbye to you",
    "dont come in tomorrow if you know whats good for you",
    "i'll send you to the hospital",
    "ill get you back for this",
    "sleep with one eye open",
    "ur not gonna make it to year 11",
    "keep talking and see what happens",
    "you better not come in on monday",
    "im going to make your life hell",
]
# and what looks like them
NOT_VEILED = [
    "you better not be late for the bus on monday lol",
    "are you walking home on friday or getting the bus?",
    "let's see what happens tomorrow when the results come out",
    "i'll send you the hospital's address so your nan can visit",
    "you're going to make it to the final, i know it",
]
# the writer threatened, in more words
DISCLOSURE_MORE = [
    "he said he's gonna kill me",
    "they said they're going to stab me after school",
    'my stepdad said he would hurt me if i told',
    'he keeps threatening to rape me',
    'someone messaged me saying they will find me and kill me',
    "she told me she'd get her brother to batter me",
]

# look-alikes: idioms, sport, games, cooking, photography, news, history, fiction, counter-speech, negation, kind wishes
NOT_THREATS_MORE = [
    "i'm going to kill it at the audition",
    'we killed it on stage last night',
    "i'll shoot you a message later",
    "we're going to shoot the wedding on film",
    'lets shoot some photos of the kids at sports day',
    'im going to beat you at chess',
    "i'm gonna destroy you at mario kart",
    "we're going to smash them on saturday, the league is ours",
    'were going to beat them in the final',
    "we're going to batter them in the derby",
    'i hope they get the job',
    'i hope we get shot of that old printer soon',
    'the chickens should be killed humanely',
    'i could kill for a cup of tea',
    'separate the eggs and beat them until fluffy',
    'ill beat them with the sugar for two minutes',
    'ill batter the fish while you fry the chips',
    'drown the pasta in sauce',
    'the show bombed on its first night',
    'i totally bombed the exam',
    'we should kill the rumour before it spreads',
    'police said the man threatened to kill his neighbour',
    'the gunman shot three people before he was arrested',
    'the nazis wanted to kill all the jews',
    'hitler believed all jews should be killed',
    'in the holocaust six million jews were gassed',
    'in the book, the villain says "i will kill you all"',
    'in my story the dragon will burn the village',
    'saying "all muslims should be killed" is disgusting',
    'people who say gay people should be shot are vile',
    'how can anyone say that women deserve to be beaten?',
    "it's never ok to say immigrants should be shot",
    'threatening to kill trans people is a hate crime',
    'no one should ever say jews should be gassed',
    "i can't believe she posted that refugees deserve to die, that's sick",
    'stop saying disabled people should be put down',
    'he was suspended for saying black people should be hanged',
    'we condemn the calls to kill muslims',
    'calls for violence against women are never acceptable',
    "i'm not going to hurt you",
    'no one is going to kill you',
    'nobody wants to see you suffer',
    "you're killing it babe",
    "we're going to shoot the year 11s for the yearbook on monday",
    "i'm going to hang out with them later",
    'ill hang them on the line to dry',
    'lets hang all the decorations before the party',
    'knock em dead at your interview!',
    'break a leg tonight!',
    "you're dead to me",
    'ur dead funny you',
    "you'll be dead jealous when you see my holiday pics",
    'the plants deserve to die if you never water them',
    "you're going to die when you see this dress",
    "i'd love to see you at the party",
    'i want to see them play live',
    'i cant wait to see you',
    'i want all the sweets',
    'i hope all the year 7s have a lovely first day',
    'i want you to win',
    'saying "i\'ll kill you" to someone is never a joke',
    'anyone who says women should be raped should be ashamed',
    'it is disgusting that people write "gas the jews" online',
    'posts like "kill all muslims" get reported to the police',
    'the only good thing about monday is lunch',
    'im going to shoot some hoops with the lads',
    "we're going to kill them on sports day, our relay team is unreal",
    "i'll fight anyone who says pineapple on pizza is bad lol",
    'my mum will murder me if i get another detention',
    "i'm dying to see you",
    "i'd kill to have your hair",
    'dont shoot the messenger',
    'the knight slays the dragon in the final chapter',
    'we will remember the soldiers who were killed in the war',
    'the teacher explained why the romans would crucify slaves',
    "i'm going to bomb it down the hill on my bike",
    'he says he wants to kill the king, act 1 scene 7',
    'our school should be bombed with compliments lol',
    'i hope the snow stops soon',
    'black people deserve to be treated equally',
    'trans people should be protected',
    'women deserve to be heard',
    'immigrants should be welcomed',
    'muslims should be left alone',
    'disabled people need to be included',
    'gay people should be allowed to marry',
    'refugees need to be given homes',
    'she says she will hate me and cut me out if i tell',
    'they said they would kick me out of the group chat',
]


DIRECT += DIRECT_MORE
CONDITIONAL += CONDITIONAL_MORE + VEILED
GROUP += GROUP_MORE + GROUP_INTENT
DISCLOSURE += DISCLOSURE_MORE
NOT_THREATS += NOT_THREATS_MORE + NOT_VEILED + NOT_GROUP_INTENT


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


def test_hidden_spellings_and_weapon_emoji_are_read_but_ordinary_numbers_are_not() -> None:
    assert threat_cues.readable(prepare("im gonna k1ll u")) == "im gonna kill u"
    assert threat_cues.readable(prepare("im going to r*pe her")) == "im going to rape her"
    assert threat_cues.readable(prepare("ill 🔪 you")) == "ill knife you"
    assert threat_cues.readable(prepare("gr8 1v1 l8r at 4pm")) == "gr8 1v1 l8r at 4pm"


@pytest.mark.parametrize("own,reported", [
    ("i think refugees should be drowned", "he thinks refugees should be drowned"),
    ("i say we kill them all", "they said we should kill them all, which is disgusting"),
    ("all muslims should be killed", 'he posted "all muslims should be killed" and got banned'),
])
def test_the_writers_own_call_is_a_threat_someone_elses_reported_is_not(own: str, reported: str) -> None:
    assert threat_cues.find(prepare(own)) is not None
    assert threat_cues.find(prepare(reported)) is None


@pytest.mark.parametrize("text", [
    # the risk model's threat label scores these 0.07-0.45 (its known weakness, docs/risk_model.md 6b):
    # the shapes do not read them as threats
    "you'll end up in a great sixth form if you keep this up",
    "i'll get you back the book on monday",
    "i will be waiting for you at the bus stop",
    "someone is going to get hurt if these stairs aren't fixed",
])
def test_the_shapes_do_not_read_friendly_lines_as_veiled_threats(text: str) -> None:
    assert threat_cues.find(prepare(text)) is None


# -- quoted speech: whose words a threat is (filters/text/speech.py) --

# An adult or an outsider quoting someone else's speech over several sentences: a news item,
# a newsletter, a list digest. Written for schoolgate; no corpus text.
SOMEONE_ELSES_SPEECH = [
    'Speaking in Washington, the President said: "We will hunt them down. We will find them and we will kill '
    'them. Nobody attacks us and walks away."\n\nThe markets rose on Tuesday.',
    '"We are going to crush them. We will kill every one of them," the general told reporters on Friday.',
    'The senator continued:\n\n"We will not rest. We will kill every one of them.\n\n'
    '"And we will punish those responsible."',
    'In a fiery speech to the party faithful in Ohio on Saturday the President said: "We will find you. '
    'We will hunt you down and we will kill you."',
    "The minister told the BBC: 'We will hunt them down. We will find them and we will kill them all.' "
    "Critics said the remarks were unwise.",
    "Text of the President's address to the nation\n\nGood evening. Tonight we are at war. We will find them "
    "and we will kill them. We will not tire.\n\n-- \nlist footer",
    "PRESIDENT BUSH: We will find those who did this. We will hunt them down and we will kill them, every one "
    "of them, wherever they hide, and we will not rest until the job is done.\n\nQUESTION: Thank you.",
    "The statement released by the group said:\nWe will kill every soldier who sets foot in our land. "
    "We will not stop.\n\nOfficials dismissed it.",
    'Speaking to reporters, Blair said the country would not flinch. "We will hunt down those responsible. '
    'They will pay for this," he said.',
    'Blair said in a speech to the party conference in Brighton on Tuesday that "we will hunt down those '
    'responsible. We will find them and kill them."',
    "The minister vowed that we will hunt them down and kill them all.",
]
# Threats received or passed on: a disclosure (or a threat) whoever quotes them.
RECEIVED_SPEECH = [
    'Jake told my son: "You\'re dead on Monday. I\'m going to stab you."',
    '"They keep saying they are going to stab me. I\'m scared," my daughter told me last night.',
]
PASSED_ON = [
    'My brother said: "You\'re dead on Monday. Watch your back."',  # relayed to the reader
    'I told him "I\'m going to kill you. You are dead."',  # the writer quoting themselves
    "I'm going to kill you, and as my dad said \"nobody will stop me.\"",  # a threat beside a quotation
    "JAKE: im going to stab you\nME: leave me alone",  # a chat log's line, not a speech
    "jake vowed he will batter you after school",  # a warning to the reader
    'Tell your brother: "you\'re dead on Monday. Watch your back."',  # the writer's message, passed through
    "WARNING: I will kill you if you tell anyone about this, and I mean every word of it, so keep your "
    "mouth shut at school tomorrow.",  # a heading, not a transcript's speaker
]


@pytest.mark.parametrize("text", SOMEONE_ELSES_SPEECH)
def test_an_outsider_quoting_someone_elses_speech_is_not_threatening(flt: RiskFilter, text: str) -> None:
    assert threat_finding(flt, text, Role.EXTERNAL) is None, text
    assert threat_finding(flt, text, Role.STAFF) is None, text  # a newsletter quoting a news item


@pytest.mark.parametrize("text", SOMEONE_ELSES_SPEECH[:3])
def test_a_pupil_quoting_speech_is_read_as_written(flt: RiskFilter, text: str) -> None:
    """The pupil's own mail: the quotation is theirs to explain to the DSL, so it stays reported."""
    assert threat_finding(flt, text, Role.STUDENT) is not None, text


@pytest.mark.parametrize("sender", [Role.EXTERNAL, Role.STUDENT])
@pytest.mark.parametrize("text", RECEIVED_SPEECH + ['hi miss, he sent me this: "im going to stab you. ur dead tomorrow"'])
def test_a_threat_quoted_as_said_to_the_writers_side_is_a_disclosure(flt: RiskFilter, text: str, sender: Role) -> None:
    finding = threat_finding(flt, text, sender)
    assert finding is not None and "disclosure" in finding.reason, text


@pytest.mark.parametrize("text", PASSED_ON)
def test_a_threat_passed_on_or_beside_a_quotation_stays_a_threat(flt: RiskFilter, text: str) -> None:
    assert threat_finding(flt, text, Role.EXTERNAL) is not None, text



# -- the forms of threat issue 17 lists, against groups and in school (written for schoolgate) --

# Threats against a group, as templates over a few group nouns: direct, "should be", with an
# identity term or a slur, plural "we", veiled ("dont deserve to live").
GROUPS = [("muslims", "muslim"), ("gay people", "gay person"), ("immigrants", "immigrant"),
          ("black people", "black person"), ("trans people", "trans person"), ("women", "woman"),
          ("disabled people", "disabled person"), ("jews", "jew"), ("travellers", "traveller")]
GROUP_TEMPLATES = [
    "I am going to kill all {g}.", "I will murder every {one} I meet.", "I want to stab every {one} in this town.",
    "I'll make sure all {g} suffer.", "We are going to round up all {g} and shoot them.",
    "I will burn down the homes of {g}.", "I will slaughter {g} like animals.", "I'm gonna hunt down {g} one by one.",
    "My mates and I are going to beat up the {g} round here.", "I can't wait to kill {g}.",
    "We're gonna make {g} bleed.", "I'm going to set fire to every {one}.", "You {g} will be dead soon.",
    "All you {g} better watch your backs.", "I want to harm {g}.", "I'm going to hurt you and all other {g}.",
    "It is our duty to get rid of {g}.", "We should destroy {g}.",
    "{G} should all be killed.", "{G} deserve to die.", "{G} don't deserve to live.", "{G} have no right to live.",
    "{G} belong in a grave.", "Killing {g} should be legal.", "{G} should be lined up against a wall and shot.",
    "{G} should be thrown off buildings.", "{G} should be stoned.", "{G} should be made to suffer.",
    "It would be great if someone killed all {g}.", "{G} should have their throats cut.", "Any {one} should be shot.",
    "A {one} should be beaten for existing.", "{G} should be attacked.", "You {g} will all be tortured.",
    "The world would be better if {g} were all dead.",
    # the future tense, "taken out", enjoying it, the death penalty, genocide
    "{G} are going to be killed.", "{G} will pay for this with their blood.", "Soon all {g} will be dead.",
    "It's only a matter of time before all {g} are killed.", "{G} won't live much longer.",
    "{G} will get what's coming to them.", "We should take out all {g}.", "{G} should be dealt with permanently.",
    "I'll enjoy watching {g} die.", "{G} should get the death penalty.", "{G} ought to be punished by death.",
    "It's open season on {g}.", "Let's go {g} hunting.", "Genocide is the answer for {g}.", "I'm going to commit genocide against {g}.", "I'm ready to kill {g}.",
    "Hanging is too good for {g}.", "We will wipe {g} off the map.", "I'd happily watch {g} burn.",
    "The streets will run red with the blood of {g}.", "Nothing would make me happier than seeing {g} dead.",
    "Put all {g} in camps and gas them.",
]
GROUP_FORMS = [t.format(g=g, G=g[0].upper() + g[1:], one=one) for t in GROUP_TEMPLATES for g, one in GROUPS]
SCHOOL_FORMS = [
    # plural "we", the writer's side
    "me and my mates are gonna batter you after school", "we r gonna jump u at the gates", "we gonna stab him",
    "were all going to beat you up on friday", "us lot are gonna kill you", "we will make you bleed",
    # direct
    "imma run you over with my car", "i'm going to make you bleed", "i will personally hurt you",
    # spelled out or hidden
    "im gonna k i l l you", "ill ki11 u", "im going to kiiiill you", "ill k.i.l.l you", "i will hurrrt you",
    # veiled
    "you won't see next week", "you have no idea what's coming to you", "something bad is going to happen to you",
    "say goodbye to your legs", "enjoy your last day alive",
    # slurs and identity terms
    "im going to kill every paki in this school", "all the gays in year 10 are getting battered",
    "im gonna stab that faggot", "kill all the f*gs", "the blacks at this school should all be shot",
    # orders to kill
    "shoot to kill. they are not welcome here", "throw them off a building", "that snitch needs impaling",
]
# Friendly school lines the risk model's threat label scores high (docs/risk_model.md): the shapes
# must not read them as threats.
FRIENDLY = [
    "i will be waiting for you at the bus stop", "we're coming for the cup this year", "ill find you at lunch",
    "we will find you a seat", "we're going to smash it on sports day", "you're dead lucky", "i'm dead tired",
    "im going to cut my hair", "you're next in the queue", "i'm going to beat my personal best",
    "i'll shoot you a message", "i'll make you pay for the cinema tickets next time",
    "you'll be sorry you missed the trip, it was amazing", "watch your back pack, it's open",
    "youre going to get hurt if you run on the ice", "im going to bomb the test lol", "we need to kill time before the bus",
    "i could murder a cup of tea", "break a leg in the play tonight", "enjoy your last day of term!",
    "say goodbye to summer", "we're going to shoot the video at the park", "i'm going to murder this song at karaoke",
    "something bad is going to happen to my grades", "we will beat the year 9s at football",
    "im going to hurt myself laughing", "we're gonna blow up the balloons", "we need to eliminate the kids' screen time",
    "we should get rid of the old textbooks", "me and my mates are going to the cinema", "i can't wait to see you all",
    "we should destroy the old posters", "the world would be better if people were kinder",
    "we need to take out the bins before the bus", "i'd happily watch the film again", "the boys are going to hang out",
    "it's only a matter of time before the kids are bored", "we're going to go bird hunting with the camera",
    "the teachers will be dealt with by the head", "nothing would make me happier than seeing you at the party",
    "put all the girls in the blue team", "hanging baskets are too good for the rain",
    # talk about violence, not a threat
    "more people will be shot if the law passes", "they keep telling us people will die",
    "the museum explains the genocide of the jews", "the film is about the genocide against the tutsi people",
    "the new curtains need hanging", "this scene needs shooting again", "throw the ball off the wall",
]


@pytest.mark.parametrize("text", GROUP_FORMS + SCHOOL_FORMS)
def test_the_listed_forms_of_threat_are_found(text: str) -> None:
    assert threat_cues.find(prepare(text)) is not None, text


@pytest.mark.parametrize("text", FRIENDLY)
def test_friendly_school_lines_are_not_threats(flt: RiskFilter, text: str) -> None:
    assert threat_cues.find(prepare(text)) is None, text


def test_the_risk_filter_reports_the_listed_forms_from_a_pupil(flt: RiskFilter) -> None:
    missed = [t for t in GROUP_FORMS + SCHOOL_FORMS if threat_finding(flt, t) is None]
    assert not missed


def test_the_anchor_scan_keeps_the_listed_forms() -> None:
    from filters.text import sentences
    from filters.text.model import model_text
    for text in GROUP_FORMS + SCHOOL_FORMS:
        spans = sentences.spans(text)
        assert threat_cues.candidate_sentences(model_text(text), spans), text


def test_hidden_spellings_spelled_out_or_stretched_are_read() -> None:
    assert threat_cues.readable(prepare("im gonna k i l l you")) == "im gonna kill you"
    assert threat_cues.readable(prepare("ill ki11 u")) == "ill kill u"
    assert threat_cues.readable(prepare("i will hurrrt you")) == "i will hurt you"
    # ordinary words, initials and times stay as written
    for text in ("he stabbed the potato", "the u.s.a. is big", "see you at 5.30 p.m.", "a b c d", "bleed"):
        assert threat_cues.readable(prepare(text)) == prepare(text), text


# Counter-speech: a pupil quoting or condemning the newer group forms is not threatening.
COUNTER_SPEECH = [
    'someone wrote "muslims should be attacked" on the wall and its disgusting',
    'saying gay people dont deserve to live is hate speech',
    'people who say "we should get rid of immigrants" are wrong',
    'my nan says immigrants will pay for this, i told her thats racist',
    'i cant believe he said trans people should be made to suffer',
    'it is never ok to say women deserve to be attacked',
    'he posted that all jews should be dealt with permanently and got banned',
    '"black people will be shot" is what they chanted, i reported it',
    'the article condemns calls to wipe travellers off the map',
    'i hate it when people say disabled people have no right to live',
    "we're going to knock them out of the cup",
]


@pytest.mark.parametrize("text", COUNTER_SPEECH)
def test_quoting_or_condemning_a_group_threat_is_not_one(flt: RiskFilter, text: str) -> None:
    assert threat_cues.find(prepare(text)) is None, text
    assert threat_finding(flt, text) is None, text


# Ordinary mail the model alone read as a threat: beating as outdoing, ending a program, a
# sign-off. Written for schoolgate (the general forms behind the SpamAssassin ham dev holds).
HARMLESS_MODEL_READS = [
    "You can't beat city hall, so we filled in the form again",
    "nothing beats a cup of tea after cross country",
    "you cant beat the original film, the remake is rubbish",
    "if I kill them they just get recreated next time the cron job runs",
    "kill the daemon with sudo and restart it, then the server comes back",
    "See you in August, Mrs Patel",
    "see you at the parents evening on thursday",
]
STILL_THREATS = [
    "see you in hell",
    "see you after school, youre dead",
    "i will kill you if you restart my computer again",
    "you cant beat me up forever, ill stab you first",
]


@pytest.mark.parametrize("text", HARMLESS_MODEL_READS)
def test_outdoing_ending_a_program_or_a_sign_off_is_no_threat(flt: RiskFilter, text: str) -> None:
    assert threat_cues.harmless(prepare(text)), text
    assert threat_finding(flt, text) is None, text


@pytest.mark.parametrize("text", STILL_THREATS)
def test_those_vetoes_leave_threats_alone(flt: RiskFilter, text: str) -> None:
    assert not threat_cues.harmless(prepare(text)), text
    assert threat_finding(flt, text) is not None, text


# Seventh pass (own wording): exasperation at the maker of a piece of work, curses on spammers
# (the anti-spam mailing lists), and a plan with no violent word and no one to harm but the
# writer's own people. What an outsider writes to staff is read as a pupil's would be here.
SEVENTH_HARMLESS = [
    "I'm going to strangle whoever broke the nightly build.",
    "We should shoot the guy who designed this API.",
    "honestly I could kill whoever wrote this makefile",
    "Spammers should be shot, frankly.",
    "me and my fellow dykes are going to pride this weekend",
]
SEVENTH_STILL_THREATS = [
    "im going to batter whoever wrote that on my locker",  # a person's words, not a piece of work
    "whoever told miss about me is getting stabbed tomorrow",
    "we should shoot the guy who lives next door",
    "me and my mates are going to batter the gays at pride",
    "me and my mates are going to make sure you regret it",
    "we're going to get you after school",
]


@pytest.mark.parametrize("text", SEVENTH_HARMLESS)
def test_exasperation_at_work_spammers_and_plans_without_a_target_are_no_threat(flt: RiskFilter, text: str) -> None:
    assert threat_cues.find(prepare(text)) is None, text
    assert threat_finding(flt, text) is None, text


@pytest.mark.parametrize("text", SEVENTH_STILL_THREATS)
def test_the_seventh_pass_vetoes_leave_threats_alone(flt: RiskFilter, text: str) -> None:
    assert threat_finding(flt, text) is not None, text
