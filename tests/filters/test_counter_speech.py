"""Counter-speech (filters/text/counter.py) and what the risk filter does with it.

Pupils who quote or name hate to condemn it ("stop calling trans people freaks") are what a
school wants; a pupil saying they are the one called names ("stop calling me fat") is a
disclosure of bullying and stays one. Every line is written for schoolgate; none comes from
a corpus or a test suite."""
from __future__ import annotations

import pytest

from filters.base import FilterContext, Role
from filters.risk import Options, RiskFilter
from filters.text.counter import condemned_after, condemns
from filters.text.model import prepare

COUNTER_SPEECH = [
    'Statements like "women are useless" are so hurtful.',
    'comments saying muslims are terrorists are racist and wrong',
    'saying gay people are disgusting is homophobic',
    'stop calling trans people freaks',
    'you need to stop saying black people are criminals',
    "if you think disabled people are a burden you're an idiot",
    'people who call immigrants vermin should be ashamed of themselves',
    'i hate it when people say women belong in the kitchen',
    'how dare you call muslims terrorists',
    'calling someone a retard just shows how ignorant you are',
    '"All gays are perverts" - what a vile thing to say, that is so wrong',
    'i cant believe people still say trans women arent women',
    "there's nothing wrong with being gay",
    'gay people are not disgusting',
    "immigrants aren't vermin, they're people",
    'no one should call disabled people names',
    'i totally disagree with anyone who says women are inferior',
    'jokes about black people like that have no place in our school',
    'if anyone says they hate jews they are part of the problem',
    'to say that muslims are evil is islamophobic',
    'i dont hate gay people, i never have',
    'we do not have a problem with immigrants',
    'so proud to be a black woman',
    'i love being trans',
    # a quotation the writer judges, and the word named and judged
    '"disabled people are a waste of space" is such an ignorant comment',
    '“girls cant do physics” — no, just no.',
    '"gay people are disgusting" that is a horrible thing to say',
    'the word faggot is a slur and shouldnt be used',
    'the term paki is racist, full stop',
]
# The claims themselves, and the writer (or the writer's family) as the one called names.
NOT_COUNTER_SPEECH = [
    'women are useless',
    'gay people are disgusting',
    'trans people are freaks',
    'stop calling me fat',
    'they keep saying im gay and i hate it',
    'stop calling my sister a slag',
    "people say i'm ugly and it's true",
    'muslims are evil',
    'immigrants are vermin',
    'you are a disgusting freak',
    "everyone thinks you're a loser",
    'he called me a retard in front of everyone',
    'black people are criminals, everyone knows it',
    'i hate gay people',
    'women are inferior to men',
    'jews are scum',
    'i hate muslims and i always will',
    # a quotation agreed with, or the writer's own; "the word" that names no word
    '"muslims are evil" is so true, they are dangerous',
    '"women are stupid" is what i always say',
    'the word is out, gays are disgusting',
    'i really dont like you, youre a freak',
    'i dont hate you, youre just a freak',
]


@pytest.fixture(scope="module")
def flt() -> RiskFilter:
    return RiskFilter(Options(), FilterContext(settings=None, directory=None))


def codes(flt: RiskFilter, text: str) -> list[str]:
    return [f.code for f in flt.analyse([text], Role.STUDENT, (Role.STUDENT,))]


@pytest.mark.parametrize("text", COUNTER_SPEECH)
def test_quoting_or_naming_hate_to_condemn_it_is_counter_speech(text: str) -> None:
    assert condemns(prepare(text)), text


@pytest.mark.parametrize("text", NOT_COUNTER_SPEECH)
def test_hate_itself_or_the_writer_called_names_is_not(text: str) -> None:
    assert not condemns(prepare(text)), text


def test_the_risk_filter_reports_the_claim_but_not_its_condemnation(flt: RiskFilter) -> None:
    assert "RISK_HATE" in codes(flt, "muslims are evil")
    assert "RISK_HATE" not in codes(flt, "how dare you call muslims terrorists")
    assert "RISK_HATE" not in codes(flt, 'my mate said "muslims are evil" and i told him thats racist')


@pytest.mark.parametrize("text", COUNTER_SPEECH)
def test_the_risk_filter_reports_no_hate_or_bullying_for_counter_speech(flt: RiskFilter, text: str) -> None:
    found = codes(flt, text)
    assert "RISK_HATE" not in found and "RISK_BULLYING" not in found, (text, found)


def test_a_threat_beside_counter_speech_is_still_a_threat(flt: RiskFilter) -> None:
    # counter-speech speaks for hate and bullying scores only: the threat's own rules read the rest
    assert "RISK_VIOLENT_THREAT" in codes(flt, "stop calling gay people freaks or ill stab you")


@pytest.mark.parametrize("text", [
    "you cant say all muslims are terrorists, thats just ignorant",  # seventh pass
    "you cannot call gay people disgusting and get away with it",
])
def test_you_cant_say_is_counter_speech(flt: RiskFilter, text: str) -> None:
    assert condemns(prepare(text)), text
    found = codes(flt, text)
    assert "RISK_HATE" not in found and "RISK_BULLYING" not in found, (text, found)


@pytest.mark.parametrize("text", [
    "you cant trust muslims, they are all terrorists",  # "trust" is no saying
    "you cant say im not right, gays are disgusting",  # the writer as the one talked about
])
def test_you_cant_without_a_saying_is_not(text: str) -> None:
    assert not condemns(prepare(text)), text


# -- the eighth pass: the judgement in the sentence after the words (own wording) --

JUDGED_AFTER = [
    ('Someone wrote "immigrants are animals" on the board.', "Saying that is disgusting."),
    ('"Gay people are disgusting."', "That is such a horrible thing to say."),
    ("Jake keeps saying black people are criminals.", "It's racist and he needs to stop."),
    ('"Women belong in the kitchen."', "No."),
    ('"Disabled people are a burden."', "What a vile thing to say."),
    ("He said all jews are greedy.", "That is antisemitic and not okay."),
    ('"All immigrants are criminals".', "How can anyone think that?"),
    ("someone in year 9 said muslims are rats.", "not ok at all"),
    ('"Girls are too stupid for maths."', "I can't believe people still say that."),
    ("trans people are freaks.", "thats what he put on his story and its vile"),
    ('"Muslims are terrorists."', "Comments like that have no place in our school."),
    ("Black people are monkeys.", "Whoever wrote that on the toilet wall should be ashamed."),
    ("My uncle says refugees are parasites.", "I think that's really ignorant."),
    ('"women are inferior to men".', "this kind of comment is sexist rubbish."),
    ("Immigrants are vermin.", "That's the kind of thing racists say and it's wrong."),
    ('"disabled people should be locked up."', "i hate that people think like this."),
    ('"Jews control everything."', "That's an antisemitic conspiracy theory."),
]
# The claim agreed with, repeated, or the judgement taken back; a bare judgement after an
# unreported claim (it may judge the group); the writer as the one called names.
NOT_JUDGED_AFTER = [
    ("muslims are animals.", "they should all be deported"),
    ('"Gays are disgusting."', "Totally agree."),
    ("Women are stupid.", "Saying that isn't sexist, it's just facts."),
    ("Black people are criminals.", "Saying it doesn't make me racist."),
    ("Immigrants are vermin.", "Everyone knows it's true."),
    ("gay people are disgusting.", "i said it and i meant it"),
    ("jews are greedy.", "thats not racist its a fact"),
    ("i said it before, muslims are scum.", "hate them"),
    ("he said it first: gays are gross.", "so true"),
    ("gay people kissing in public.", "That is disgusting."),
    ("he said im a fat pig.", "thats so hurtful"),  # a disclosure, for the DSL
]


@pytest.mark.parametrize("first, second", JUDGED_AFTER)
def test_a_judgement_in_the_next_sentence_condemns_the_words(first: str, second: str) -> None:
    assert condemned_after(prepare(first), prepare(second)), (first, second)


@pytest.mark.parametrize("first, second", NOT_JUDGED_AFTER)
def test_agreement_a_bare_judgement_or_the_writer_as_target_is_not(first: str, second: str) -> None:
    assert not condemned_after(prepare(first), prepare(second)), (first, second)


@pytest.mark.parametrize("claim", [
    "muslims are animals, they should all be deported.",
    "black people are apes.",
    "you cant trust muslims, they are all terrorists.",
])
def test_the_risk_filter_reads_the_next_sentence_for_its_judgement(flt: RiskFilter, claim: str) -> None:
    # the same claim followed by agreement is still hate: it is the judgement that speaks, not
    # the extra sentence
    assert "RISK_HATE" in codes(flt, f"{claim} Totally agree.")
    assert "RISK_HATE" not in codes(flt, f"{claim} Saying that is disgusting.")
    assert "RISK_HATE" not in codes(flt, f"{claim} Whoever wrote that should be ashamed.")


@pytest.mark.parametrize("text, judged", [
    ("Your opinion that women are worthless is disgusting.", True),
    ("the idea that gay people are sick is outdated and ignorant", True),
    ("your comment that black people are lazy was racist", True),
    ("things that gay people do are disgusting", False),  # "things that": not a claim's content
    ("i dont hate muslims but they are scum", False),  # own_denial=False: the denial alone is not read
])
def test_a_claims_content_after_that_judged_is_counter_speech(text: str, judged: bool) -> None:
    assert condemns(prepare(text), own_denial=False) is judged


def test_the_writers_denial_of_hating_counts_only_when_asked() -> None:
    assert condemns(prepare("i dont hate muslims"))
    assert not condemns(prepare("i dont hate muslims"), own_denial=False)


@pytest.mark.parametrize("text", [
    "Threatening muslims online is cowardly and illegal.",  # an act judged, not only words
    "Comparing black people to apes is racist and dehumanising.",
    "When you call gay people filth you only show your own ignorance.",
    "It's hateful to say that black people are savages.",
    "Posts calling immigrants cockroaches should be taken down.",
    '"Jews are rats" is straight from nazi propaganda.',
    "People who use the word nigger are racists.",
    "Only an idiot would say women are inferior.",
    "Anyone who thinks disabled people are worthless can piss off.",
])
def test_ninth_pass_counter_speech_forms(text: str) -> None:
    assert condemns(prepare(text), own_denial=False)


@pytest.mark.parametrize("text", [
    "threatening muslims is what they deserve",
    "hating gay people is normal",
    "people who say immigrants are vermin are right",
])
def test_ninth_pass_acts_approved_are_not_counter_speech(text: str) -> None:
    assert not condemns(prepare(text), own_denial=False)


@pytest.mark.parametrize("text", [
    "Threatening muslims online is cowardly and illegal.",
    "Comparing black people to apes is racist and dehumanising.",
    "It's hateful to say that black people are savages.",
])
def test_the_risk_filter_lets_the_ninth_pass_forms_go(flt: RiskFilter, text: str) -> None:
    assert not {"RISK_HATE", "RISK_BULLYING"} & {f.code for f in flt.analyse([text], Role.STUDENT)}


@pytest.mark.parametrize("text, denied", [
    ("Muslims should not be beaten.", True),
    ("Immigrants do not deserve to be shot.", True),
    ("No one deserves to die for being gay.", True),
    ("Muslims don't deserve to live.", False),  # no harm named: the hate itself
    ("gays should not be allowed to live", False),
    ("immigrants should be shot", False),
])
def test_ninth_pass_a_harm_denied_is_not_hate(text: str, denied: bool) -> None:
    assert condemns(prepare(text), own_denial=False) is denied


@pytest.mark.parametrize("text, judged", [
    ("Whoever wrote that muslims are scum is a prick.", True),
    ("Only an asshole hates disabled people.", True),
    ("whoever wrote that muslims are scum is right", False),
])
def test_ninth_pass_whoever_and_only_a(text: str, judged: bool) -> None:
    assert condemns(prepare(text), own_denial=False) is judged
