"""Threats against a group worded as the writer's plan or as a norm (filters/threat_cues.py).

Issue 17 asks for threats of violence "worded indirectly": besides "I will ...", a threat is
often stated as what would be best, right or fine to do to a group ("it would be best to just
drown those kinds of ...", "executing ... is the right thing to do"). Every line is written for
schoolgate as a template over a few group nouns; none comes from a corpus or a test suite."""
from __future__ import annotations

import pytest

from filters import threat_cues
from filters.base import FilterContext, Role
from filters.risk import Options, RiskFilter
from filters.text import sentences
from filters.text.model import model_text, prepare

GROUPS = [("women", "woman"), ("trans people", "trans person"), ("gay people", "gay person"),
          ("black people", "black person"), ("disabled people", "disabled person"), ("Muslims", "Muslim"),
          ("immigrants", "immigrant")]
TEMPLATES = [
    "I'm going to stab a {one} tomorrow.",
    'I will hurt you and any other {g} like you.',
    'I am going to shoot the next {one} I see.',
    "I'm going to kill every {one} I find.",
    'I will strangle any {one} who comes near me.',
    "I'm going to punch the first {one} I see on Monday.",
    'I will murder {g} like you.',
    "I'm going to torture {g} until they beg.",
    'We are going to burn {g} alive.',
    "I'll slit the throat of any {one} I meet.",
    'I want to cut up {g}.',
    "I'll put a bullet in the head of every {one}.",
    "I'm going to beat a {one} to death tonight.",
    'I will make {g} like you suffer.',
    "I'll drown {g} like you in the river.",
    'You and all the other {g} are going to die.',
    "I'm going to kill you and your {one} friends.",
    'I will hang every {one} I find.',
    "I'm going to hurt some {g} tonight.",
    "Next time I see a {one} I'll break their neck.",
    'I am going to smash the skull of the next {one} I meet.',
    "I'll kill any {one} who comes to my street.",
    'If I see a {one} I will stab them.',
    "I'd love to strangle a {one} with my bare hands.",
    '{G} like you will die by my hand.',
    'I will kick the shit out of every {one} I see.',
    "I'm going to rape a {one} tonight.",
    "I'll gas all {g} like you.",
    "I'm going to find a {one} and beat them up.",
    'It would be best to just drown those kinds of {g}.',
    'It would be best to kill all {g}.',
    'The best thing would be to shoot {g} like that.',
    'It would be better to hang all {g}.',
    'We would all be better off if {g} were shot.',
    'The right thing to do is to kill {g}.',
    'The only solution is to exterminate {g}.',
    '{G} should be drowned at birth.',
    "It's fine to beat up {g}.",
    'Executing {g} is the right thing to do.',
    'Killing {g} is the only answer.',
    '{G} should all be put against a wall and shot.',
    'Those kinds of {g} should be burned.',
    'The best place for {g} is in a coffin.',
    'Society would be better off without {g} alive.',
    '{G} like that need to be put down.',
    'It would be a good idea to stab {g}.',
    'All {g} deserve a bullet.',
    '{G} deserve to be hung.',
    "It's right to hurt {g}.",
    'Hurting {g} is justified.',
    'It should be legal to kill {g}.',
    'More {g} should be murdered.',
    'The country should execute every {one}.',
    'We ought to drown all {g}.',
    'Someone ought to shoot every {one}.',
    'Those {g} should be beaten until they stop breathing.',
    'I think {g} should be killed.',
    '{G} are vermin and should be exterminated.',
    'Any {one} deserves to be strangled.',
    'It would be best for everyone if {g} were dead.',
    'It is our right to kill {g}.',
    'We need to start hanging {g}.',
    "I'm going to kill a {one} this weekend.",
    "Tomorrow I'll shoot some {g}.",
    'I swear I will stab the next {one} who talks to me.',
    'I will beat up every {one} in my street.',
    "I'd kill every {one} if I could get away with it.",
    "I'm going to poison {g}.",
    "Next week I'm going to attack a {one}.",
    "I'm going to kill you and every {one} like you.",
    'I will drown any {one} I find.',
    'It would be good to hang all {g}.',
    'The best solution is to shoot {g}.',
    'The right answer is to kill all {g}.',
    "It's totally fine to hurt {g}.",
    'Drowning {g} would be a kindness.',
    'The only cure for {g} is a bullet.',
    "We'd be better off if all {g} were dead.",
    'Shooting {g} is justified.',
    'Someone needs to get rid of {g} for good.',
    '{G} should be shot on sight.',
    '{G} should be strangled.',
    'It would be fun to torture {g}.',
    '{G} need to be eliminated.',
    'Every {one} deserves to be shot.',
    "It's about time someone killed {g}.",
    '{G} should be wiped from the earth.',
    '{G} deserve nothing but a bullet.',
    'I support killing {g}.',
    "I'm all for shooting {g}.",
    'I fully support hanging {g}.',
    'Shoot every {one}.',
    'Kill any {one} you see.',
]
FORMS = [t.format(g=g, G=g[0].upper() + g[1:], one=one) for t in TEMPLATES for g, one in GROUPS]
# The same frames about things, time, sport and plans: no group of people is harmed.
FRIENDLY = [
    'it would be best to kill time before the bus comes',
    'the best thing to do is to beat the traffic',
    'it would be better to hang the posters in the hall',
    "we'd be better off if the buses were on time",
    'the best place for the kids is in the hall',
    'the only cure for a cold is rest',
    'it should be legal to shoot fireworks on bonfire night',
    'we should hang out with the girls after school',
    'it would be good to beat the boys at football on friday',
    'executing the plan is the right thing to do',
    'the right thing to do is to get rid of the old desks',
    'the best solution is to get the kids to bed early',
    "it's fine to kick the ball against the wall",
    'it would be great to see the boys win',
    'killing it in the exam is the only way',
    'the best way is to drown the seeds in water',
    'it would be best to burn the old homework',
    'the world would be better if people were kinder',
    'the police should find the kids who did it',
    "i'm going to find the girls and meet them at the park",
    'it would be a kindness to put the old dog down',
    'beating the boys is the only answer',
    'the answer for the year 9s is more homework',
    "its ok to hurt people's feelings by accident sometimes, just say sorry",
    'beating the boys is the only answer',
    'its about time someone fixed the printer',
    "it's about time we had a party",
    'he deserves nothing but a bullet point list',
    'i support helping refugees',
    'im all for beating the boys at football',
    'i support hanging the girls artwork in the hall',
    'im all for hanging out with the girls',
    'shoot every boy a text about the party',
    'kill every zombie kid in the game',
    'burn every girl a cd',
]

# The same frames negated or turned to help: no threat.
NEGATED = [
    'it would be wrong to kill {g}',
    'killing {g} is never the answer',
    "it's not ok to hurt {g}",
    'it is never right to attack {g}',
    'nobody thinks it would be best to hurt {g}',
    'the right thing to do is to protect {g}',
    'hurting {g} is not justified',
    'we would not be better off if {g} were dead',
    'the best place for {g} is in parliament',
    'the only answer for {g} is more support',
    'no one should ever hurt {g}',
    'it would be best to help {g}',
    'i would never hurt a {one}',
]
FRIENDLY += [t.format(g=g, one=one) for t in NEGATED for g, one in GROUPS]


@pytest.fixture(scope="module")
def flt() -> RiskFilter:
    return RiskFilter(Options(), FilterContext(settings=None, directory=None))


@pytest.mark.parametrize("text", FORMS)
def test_a_group_threat_as_plan_or_norm_is_found(text: str) -> None:
    found = threat_cues.find(prepare(text))
    assert found is not None and found.kind in ("group", "direct", "conditional"), text


@pytest.mark.parametrize("text", FRIENDLY)
def test_the_same_frames_about_things_time_or_sport_are_not_threats(text: str) -> None:
    assert threat_cues.find(prepare(text)) is None, text


def test_the_anchor_scan_keeps_every_form() -> None:
    missed = [t for t in FORMS if not threat_cues.candidate_sentences(model_text(t), sentences.spans(t))]
    assert not missed


def test_the_risk_filter_reports_every_form_from_a_pupil(flt: RiskFilter) -> None:
    missed = [t for t in FORMS if not any(f.code == "RISK_VIOLENT_THREAT"
                                          for f in flt.analyse([t], Role.STUDENT, (Role.STUDENT,)))]
    assert not missed


# Rage at a thing, devotion and denial: the model's threat label scores some of these high; the
# window has no one to hurt, or says no one should be (threat_cues.harmless).
NO_ONE_TO_HURT = [
    "im going to smash this stupid phone", "i could strangle the printer", "im going to kill this cauliflower",
    "i would die for my friends", "no gay person deserves to be hurt", "no woman should ever be attacked",
    "i would never hurt a woman",
]
STILL_THREATS = [
    "i will smash your phone and then you", "im going to kill him and smash his phone", "im going to stab you with a pen",
]


@pytest.mark.parametrize("text", NO_ONE_TO_HURT)
def test_rage_at_things_devotion_and_denial_are_not_threats(flt: RiskFilter, text: str) -> None:
    assert threat_cues.harmless(prepare(text)), text
    assert not any(f.code == "RISK_VIOLENT_THREAT" for f in flt.analyse([text], Role.STUDENT, (Role.STUDENT,)))


@pytest.mark.parametrize("text", STILL_THREATS)
def test_a_thing_beside_a_person_threatened_is_still_a_threat(flt: RiskFilter, text: str) -> None:
    assert any(f.code == "RISK_VIOLENT_THREAT" for f in flt.analyse([text], Role.STUDENT, (Role.STUDENT,))), text


def test_the_shipped_chains_shared_patterns_fit_in_re2(caplog) -> None:
    """Every group copy in a threat pattern costs RE2 memory: past its budget the whole shared
    prefilter falls back to Python on every text (filters/text/matcher.py), a cost no bench of
    threat_cues alone shows. The shipped chain's database must compile in RE2."""
    from config.loader import load_settings
    from filters.scanner import Scanner
    from filters.text import matcher
    if matcher.ENGINE != "re2":
        pytest.skip("google-re2 is not installed: every pattern runs in Python by design")
    settings = load_settings()
    chain = [name for name in settings.filters.chain if name != "virus"]  # virus needs a running clamd
    scanner = Scanner(load_settings(overrides={"filters": {"chain": chain}}))
    assert scanner.patterns.compiled and scanner.patterns._set is not None
    assert "could not compile" not in caplog.text
