"""Counter-speech: a sentence that quotes or names hateful words in order to condemn them.

"Statements like \"women are stupid\" are hurtful", "stop calling gay people disgusting",
"if you say you hate muslims you're the problem", "people who call disabled people names
should be ashamed", "saying immigrants are vermin is racist": the words a hate or bullying
model scores high are inside the sentence, but the writer is against them. Pupils write this
to defend a friend or a group, and it is what a school wants them to write; holding it
teaches the opposite (docs/safeguarding.md, "Counter-speech").

Two things keep it from excusing abuse:
  - the writer as the one called names ("stop calling me fat", "they keep saying im gay") is
    never counter-speech here: that is a pupil disclosing bullying, for the DSL;
  - it only speaks for hate and bullying scores (filters/risk.py): a threat in the same
    sentence is read by filters/threat_cues.py, which has its own reported-speech rules.

Written for schoolgate from its own fixtures (tests/filters/test_counter_speech.py). Pure
functions over compiled patterns on the risk model's prepared text (lower case, apostrophes
dropped: filters/text/model.prepare).
"""
from __future__ import annotations

import re

# What the writer says of the words: wrong, hurtful, a slur, hate.
_CONDEMN = (r"(?:hurtful|wrong|disgusting|vile|racist|sexist|misogynistic|misogynist|homophobic|transphobic|"
            r"biphobic|ableist|islamophobic|antisemitic|xenophobic|bigoted|hateful|offensive|unacceptable|"
            r"not (?:ok|okay|acceptable|alright|funny|cool|true|on)|never (?:ok|okay|acceptable|funny)|ignorant|"
            r"stupid|idiotic|awful|horrible|appalling|shameful|shocking|cruel|harmful|dangerous|toxic|pathetic|"
            r"gross|sick|evil|nasty|dehumani[sz]ing|insulting|degrading|out of order|hate speech|a hate crime|"
            r"a slur|slurs|bullying|discrimination|discriminatory|prejudiced|prejudice|nonsense|rubbish|lies|a lie|"
            r"a myth|false|untrue|bs|bullshit|so wrong|really wrong|just wrong|bigotry|hate|hatred|ugly|"
            r"unkind|mean|horrid|upsetting|damaging|inexcusable|unforgivable|disgraceful|a disgrace|"
            r"embarrassing|cringe|messed up|fucked up|outdated|backwards|bang out of order|"
            # ninth pass: an act judged as a crime or a coward's ("threatening ... is cowardly and illegal")
            r"cowardly|spineless|illegal|a crime|against the law|propaganda|a conspiracy theory|ignorance|stupidity|"
            r"cowardice)")
# Someone who says such things, named for what they are: "you're an idiot", "theyre the problem".
_CALLED_OUT = (rf"(?:{_CONDEMN}|an? (?:idiot|bigot|racist|sexist|homophobe|transphobe|moron|fool|disgrace|"
               rf"loser|joke|coward|problem)|"
               # eighth pass: sworn at ("whoever wrote that is a prick", "people who say that are dickheads")
               rf"(?:an? |such an? |total |complete |absolute |right |proper )*(?:dickheads?|pricks?|twats?|bastards?|"
               rf"bitch|bitches|wankers?|tossers?|knobheads?|bellends?|idiots|morons|clowns|losers|cunts?|"
               # ninth pass: the other moderate words a pupil swears at the speakers of hate with
               rf"assholes?|arseholes?|douchebags?|douches?|scumbags?|shitheads?|dicks?|jerks?|"
               # ... and the speakers named for what they are, many ("people who use the word ... are racists")
               rf"racists|bigots|homophobes|transphobes|sexists|misogynists|nazis|fascists)|the problem|part of the problem|(?:so |really )?(?:wrong|ignorant|"
               rf"misguided|mistaken|uneducated|brainwashed|pathetic)|ashamed|embarrassed)")
_SPEECH_NOUN = (r"(?:statements?|comments?|remarks?|words|posts?|tweets?|messages?|phrases?|jokes?|things|views?|"
                r"opinions?|claims?|attitudes?|language|slurs?|names?|insults?|stuff|rhetoric|lines?|chants?|"
                r"graffiti|memes?|videos?|stereotypes?|ideas?)")
_SPEECH_VERB = (r"(?:say|says|saying|said|call|calls|calling|called|claim|claims|claiming|tell|tells|telling|"
                r"post|posts|posting|spread|spreading|write|writes|writing|wrote|use|using|think|thinking|shout|"
                r"shouting|chant|chanting|joke|joking|act like|acting like|pretend|pretending|treat|treating|"
                r"talk about|talking about|refer to|referring to|describe|describing)")
# A hateful claim, said or denied ("gay people are (not) disgusting"): _COUNTER's last form, and
# _DENIAL_FORM, which tells the claim itself from its denial.
_DENIED_CLAIM = (r"\b(?:is|are|arent|isnt)(?: not)? (?:\w+ ){0,2}?(?:scum|vermin|animals|disgusting|inferior|"
                 r"subhuman|trash|rubbish|a disease|diseased|dangerous|criminals|a threat|the problem|evil|sick|"
                 r"freaks|parasites|worthless|stupid|lesser|less than (?:anyone|anybody|us|you))\b")
# Harm done to people, denied in the last form: "should not be beaten", "dont deserve to be shot".
_HARMED = (r"(?:shot|killed|hurt|harmed|attacked|beaten|beaten up|abused|deported|bullied|murdered|lynched|"
           r"gassed|burned|burnt|hanged|hung|stabbed|assaulted|tortured|mistreated|persecuted|targeted|"
           r"discriminated against|treated badly|treated like that|spat on|punished)")
# Quotation marks as the risk model's prepared text keeps them (straight or curly).
_QUOTE = r"[\"“”]"
# The forms of counter-speech. Each names the speech ("saying", "statements like", "stop
# calling") and the writer's judgement of it, or the writer's denial of a hateful claim.
_COUNTER = re.compile(
    # statements like "..." are hurtful / comments saying ... are racist
    rf"\b{_SPEECH_NOUN} (?:like|such as|that say|saying|calling|about|claiming|that claim|that call)\b.{{0,160}}?"
    rf"\b(?:is|are|was|were|sound|sounds|make|makes|show|shows|have no place|has no place|belong|need to stop|"
    rf"needs to stop|should stop|must stop|dont belong|should be|need to be|needs to be|must be|got|get|gets)\b"
    rf"(?: \w+){{0,4}}? ?(?:{_CONDEMN}|no place|nowhere|in the bin|stop|"
    # ninth pass: a sanction ("your post saying ... was reported", "posts calling ... should be taken down")
    rf"reported|deleted|removed|taken down|banned|blocked)\b"
    rf"|\b{_SPEECH_NOUN} (?:like|such as|that say|saying|calling|about|claiming|that claim|that call)\b.{{0,160}}?"
    rf"\b(?:have|has|had) no place\b"
    # your opinion that ... is disgusting / the idea that ... is outdated (ninth pass): a claim's
    # content after "that", then judged ("things that ..." is not here: "things that gay people do")
    # (one claim, "is": a claim's own "are" is the hate's predicate, "... are disgusting")
    rf"|\b(?:opinion|view|idea|claim|belief|comment|statement|notion|assumption|suggestion) that\b"
    rf".{{0,160}}?\b(?:is|was)\b(?: \w+){{0,4}}? ?{_CONDEMN}\b"
    # saying ... is racist / calling ... names just shows how ignorant you are
    rf"|\b(?:saying|claiming|calling|thinking|believing|suggesting|posting|writing|shouting|chanting|joking|"
    rf"telling (?:people|everyone|them|others)|to say|to call|to claim|to think|to suggest|to joke|"
    # ninth pass: the act judged, not only the words ("threatening muslims online is cowardly",
    # "hating women because you got dumped is pathetic"); a threat itself is threat_cues.py's
    rf"threatening|attacking|hating|harassing|comparing|mocking|insulting|abusing|bullying|targeting|dehumani[sz]ing|"
    rf"picking on|making fun of|to threaten|to attack|to hate|to mock|to insult|to bully)\b.{{0,160}}?"
    rf"\b(?:is|are|was|makes|shows|just shows|proves|means|sounds|isnt|is not)\b(?: \w+){{0,5}}? ?{_CALLED_OUT}\b"
    # stop calling ..., you cant keep saying ..., i hate it when people say ...
    rf"|\b(?:stop|quit|dont|do not|never|please stop|you need to stop|you have to stop|you should stop|"
    rf"you must stop|you cant keep|you cant just|you cant|you cannot|you can not|cant believe (?:you|people|someone|he|she|they|anyone|"
    rf"some people)|how dare (?:you|he|she|they|anyone|people)|hate it when (?:people|you|someone|they|boys|"
    rf"girls|lads)|sick of (?:people|you|hearing|everyone|boys|girls|lads|them)|tired of (?:people|you|hearing|"
    rf"everyone|them)|fed up (?:of|with) (?:people|you|hearing|everyone|them)|nobody should|no one should|"
    rf"you shouldnt|people shouldnt|we shouldnt|we should never|you should never)\b(?: \w+){{0,3}}? ?"
    rf"{_SPEECH_VERB}\b"
    # if you say ... you're an idiot / anyone who thinks ... is wrong / people who call ... should be ashamed
    rf"|\b(?:if|when|whenever) (?:you|u|anyone|someone|people|they|he|she) (?:\w+ ){{0,2}}?(?:say|says|said|think|thinks|believe|"
    rf"believes|call|calls|claim|claims|agree|agrees|genuinely think|actually think|post|write|use)\b.{{0,160}}?"
    rf"\b(?:you|u|they|he|she|thats|that is|it)(?:re| are| r|s| is| was|)(?: \w+){{0,4}}? ?{_CALLED_OUT}\b"
    rf"|\b(?:(?:people|anyone|those|someone|everyone|men|guys|boys|girls|lads|you|whoever) (?:who|that)|whoever) "
    rf"(?:\w+ ){{0,2}}?(?:say|says|said|think|thinks|believe|believes|call|calls|claim|claims|post|posts|posted|spread|"
    rf"spreads|use|uses|write|writes|wrote|tweeted|joke|jokes|hate|hates)\b.{{0,160}}?\b(?:are|is|should be|need to be|must be|have to be|deserve to be|"
    rf"need|needs)(?: \w+){{0,3}}? ?(?:{_CALLED_OUT}|reported|banned|called out|educated|blocked|excluded|help|"
    rf"full of (?:shit|crap|it))\b"
    # ... anyone who thinks ... can piss off / only an idiot would say ... (ninth pass)
    rf"|\b(?:people|anyone|those|someone|everyone|whoever) (?:who|that) (?:\w+ ){{0,2}}?(?:say|says|said|think|"
    rf"thinks|believe|believes|call|calls|claim|claims|post|posts|spread|spreads|write|writes|hate|hates)\b.{{0,160}}?"
    rf"\b(?:can|should|may|needs to|need to|must) (?:(?:\w+) )?(?:piss off|fuck off|sod off|bugger off|get lost|do one|"
    rf"go to hell|do better|grow up|shut up)\b"
    rf"|\bonly (?:an?|some) (?:\w+ ){{1,3}}?(?:(?:would|could|will|ever) (?:\w+ )?{_SPEECH_VERB}|hates|says|thinks|"
    rf"calls|believes)\b"
    # its hateful to say ... / that is ignorant to think ... (ninth pass)
    rf"|\b(?:its|it is|thats|that is)(?: \w+){{0,2}}? {_CONDEMN} to (?:say|call|claim|think|post|write|suggest|"
    rf"joke|tell|compare)\b"
    # the writer's stance: "i totally disagree with anyone who says ...", "i reported him for calling ..."
    rf"|\b(?:i|we) (?:\w+ )?(?:disagree|condemn|reject|oppose|call out|called out|stand against|stood up to|"
    rf"reported (?:him|her|them|it|this|that|the post|the comment))\b"
    # ... ill report them / i will report it (ninth pass; prepared text drops the apostrophe)
    rf"|\b(?:ill|i will|i would|id|im going to|im gonna|i am going to|we will) (?:\w+ )?report "
    rf"(?:him|her|them|it|this|that|the post|the comment|whoever|anyone)\b"
    # a quotation the writer then judges: "\"women are stupid\" is such an ignorant comment", "... - no, just no"
    # (not "... is so true, they are dangerous": agreeing words before the judgement veto it)
    rf"|{_QUOTE}[^\"“”]{{3,200}}{_QUOTE}\W{{0,4}}(?:(?:is|are|was|were|thats|that is|its|it is|what an?|such an?|"
    rf"so|how|just|this is|that was)\b ?)(?!(?:\w+ ){{0,4}}?(?:true|right|correct|facts?|agree|spot on|accurate)\b)"
    rf"(?:\w+ ){{0,4}}?(?:{_CONDEMN}|(?:thing|comment|remark|post|statement|tweet) to (?:say|write|post))\b"
    rf"|{_QUOTE}[^\"“”]{{3,200}}{_QUOTE}\W{{0,4}}(?:no,? just no|just no|nope|absolutely not|hell no|yikes|so wrong)\b"
    # the word named and judged: "the word faggot is a slur", "the term ... shouldnt be used"
    rf"|\bthe (?:word|words|term|terms|slur|phrase) (?:\w+ ){{1,3}}?(?:(?:is|are|was|isnt)(?: \w+){{0,3}}? ?{_CONDEMN}|"
    rf"(?:shouldnt|should not|should never|must never|must not) be (?:used|said))\b"
    # a hateful claim denied: "gay people are not disgusting", "theres nothing wrong with being trans"
    rf"|\b(?:theres|there is|there s) nothing wrong with (?:being|having|loving|people)\b"
    # a harm denied (ninth pass): "muslims should not be beaten", "immigrants do not deserve to be
    # shot", "no one deserves to die for being gay"; not "... dont deserve to live" (no harm named)
    rf"|\b(?:should|must|do|does|did|would)(?:nt| not| never)(?: ever)? (?:deserve to |have to )?(?:be |get )"
    rf"(?:\w+ )?{_HARMED}\b"
    rf"|\b(?:dont|do not|doesnt|does not|never|no one|nobody|noone) (?:ever )?deserves? to (?:die|suffer|be (?:\w+ )?{_HARMED})\b"
    rf"|{_DENIED_CLAIM}")
# The writer denies hating, or is proud of who they are: "i dont hate anyone", "proud to be a black
# woman". Not when the reader is addressed: "i dont hate you, youre just a freak" is still aimed.
_DENIES = re.compile(
    rf"\b(?:i|we) (?:\w+ )?(?:dont|do not|never|could never|would never|wouldnt|cant|cannot) (?:\w+ )?(?:hate|despise|"
    rf"dislike|detest|look down on|think less of|disrespect|have a problem with|have anything against)\b"
    rf"|\b(?:proud to be|proud of being|love being|happy being|glad to be|love that i am|love that im)\b")
_READER = re.compile(r"\b(?:you|u|ya|yall|ur|youre|your)\b")

# Only a denial counts for the last form: the words must say "not" or "arent".
_DENIAL = re.compile(r"\b(?:arent|isnt|are not|is not|are never|is never)\b")
_DENIAL_FORM = re.compile(_DENIED_CLAIM)
# The writer as the one called names or talked about: a disclosure of bullying, not counter-speech.
_WRITER_TARGET = re.compile(
    rf"\b{_SPEECH_VERB} (?:me|my|us|our)\b|\b(?:say|says|saying|said|tell|telling|think|thinks) (?:that )?"
    rf"(?:im|i am|i was|my|we are|were)\b|\bme (?:names|a |an )|\bcalled me\b")


def condemns(prepared: str, own_denial: bool = True) -> bool:
    """True when the sentence (prepared text) quotes or names hateful words to condemn or deny
    them, and the writer is not the one they are said about. `own_denial=False`: the writer's
    denial of hating ("i dont hate muslims") does not count by itself (the offensive filter
    reads listed hate in the same sentence: "i dont hate muslims but they are scum" is hate)."""
    if _WRITER_TARGET.search(prepared):
        return False
    if own_denial and _DENIES.search(prepared) and not _READER.search(prepared):
        return True
    for match in _COUNTER.finditer(prepared):
        if _DENIAL_FORM.fullmatch(match.group()) and not _DENIAL.search(match.group()):
            continue  # "women are inferior": the claim itself, not its denial
        return True
    return False


# -- the judgement in the next sentence (eighth pass) --
# '"Immigrants are animals." Saying that is disgusting.', 'Jake keeps saying black people are
# criminals. It's racist and he needs to stop.', 'Black people are monkeys. Whoever wrote that
# should be ashamed.': the words come first, the writer's judgement of them after. The second
# sentence must name the words as said ("saying that", "whoever wrote that", "comments like
# that", "a vile thing to say") and judge them; a bare "That is disgusting." after a claim is
# not read (it may judge the group: "gays kissing in public. that is disgusting").
_BACK = r"(?:that|this|it|them|those|these|things like that|stuff like that|that stuff|that kind of thing)"
_SAID_BACK = (r"(?:say|says|saying|said|post|posts|posting|posted|write|writes|writing|wrote|put|puts|"
              r"think|thinks|thinking|thought|believe|believes|believing|claim|claims|claiming|tweet|tweeted|"
              r"shout|shouted|chant|chanted)")
_AFTER = re.compile(
    # saying that is disgusting / to think that is so ignorant / posting stuff like that shows ...
    rf"^(?:\w+ ){{0,2}}?(?:saying|claiming|thinking|believing|posting|writing|shouting|chanting|to say|to think|"
    rf"to post|to write) {_BACK}\b(?: \w+){{0,3}}? (?:is|was|makes|shows|just shows|proves|means|sounds)\b"
    rf"(?: \w+){{0,4}}? ?{_CALLED_OUT}\b"
    # whoever wrote that should be ashamed / anyone who says that is an idiot
    rf"|\b(?:whoever|anyone who|anybody who|people who|someone who|those who|he who|the person who|"
    rf"the people who) (?:\w+ ){{0,2}}?{_SAID_BACK} {_BACK}\b.{{0,80}}?\b(?:is|are|was|should be|needs to be|"
    rf"need to be|must be|has to be|deserves to be|deserve to be)(?: \w+){{0,3}}? ?(?:{_CALLED_OUT}|reported|"
    rf"banned|excluded|suspended|called out|educated)\b"
    # comments like that have no place here / things like that are racist
    rf"|\b(?:(?:{_SPEECH_NOUN}|language|talk) like (?:that|this)|(?:this|that) (?:kind|sort|type) of "
    rf"(?:{_SPEECH_NOUN}|thing|talk))\b.{{0,80}}?\b(?:(?:is|are|was|were|dont belong|doesnt belong)\b(?: \w+){{0,4}}? ?"
    rf"(?:{_CONDEMN}|no place|nowhere)|(?:have|has) no place|(?:need|needs|should|must|has to|have to) stop)\b"
    # what a vile thing to say / thats such a horrible thing to post
    rf"|^(?:\w+ ){{0,2}}?(?:what an?|thats an?|that is an?|thats such an?|that is such an?|such an?|its an?|"
    rf"it is an?|how)(?: \w+){{0,2}}? (?:thing|comment|remark|statement|post) to {_SAID_BACK}\b"
    # thats what he put on his story and its vile / thats the kind of thing racists say
    rf"|^(?:thats|that is|this is|its|it is) (?:what|the kind of thing|the sort of thing|the type of thing)\b"
    rf".{{0,60}}?\b{_SAID_BACK}\b.{{0,60}}?\b(?:{_CONDEMN}|racists|bigots|homophobes)\b"
    # how can anyone say that / i cant believe people still think that / i hate that people think like this
    rf"|\b(?:how can|how could|why would|why do|why does) (?:anyone|anybody|people|someone|you|he|she|they|"
    rf"a person) (?:\w+ )?{_SAID_BACK} {_BACK}\b"
    rf"|\b(?:i|we) (?:\w+ )?(?:hate|cant believe|cannot believe|cant stand|am sick of|m sick of|im sick of|"
    rf"am tired of|im tired of) (?:(?:that|it when|how|when) )?(?:\w+ ){{0,2}}?{_SAID_BACK} "
    rf"(?:{_BACK}|like (?:that|this))\b"
    # i reported it / i reported him for saying that
    rf"|\b(?:i|we) (?:\w+ )?(?:reported|am reporting|m reporting|im reporting|want to report|will report|"
    rf"have reported|told a teacher about|told (?:miss|sir|the teacher|my teacher|a teacher))\b")
# The first sentence reported as said, or in quotation marks: a short judgement then reads as
# one of the words ('"Women belong in the kitchen." No. Just no.', 'he said all jews are
# greedy. not ok at all').
_SAID_FIRST = re.compile(rf"{_QUOTE}[^\"“”]{{3,}}{_QUOTE}|\b(?:said|says|saying|wrote|writes|posted|posts|"
                         rf"tweeted|put|shouted|chanted|told (?:\w+ ){{0,3}}?that)\b")
_JUDGED = rf"(?:{_CONDEMN}|conspiracy theory|a myth|myth|a stereotype|stereotype|a lie|lie)"
_SHORT_JUDGEMENT = re.compile(
    # "no.", "so vile", "not ok at all": the whole sentence is the judgement
    rf"^\W*(?:no|nope|just no|no,? just no|absolutely not|yikes|(?:(?:so|how|just|really|seriously|wow|omg)\W+)*"
    rf"{_JUDGED}(?: at all)?)\W*$"
    # "i think thats really ignorant", "its racist and he needs to stop": a judgement with a copula
    rf"|^\W*(?:(?:i think|i find|i feel|i know|honestly|seriously|wow|omg|but|and|ugh)\W+)?"
    rf"(?:thats|that is|this is|its|it is|which is)\W+(?:(?:so|really|just|such|pure|absolutely|totally|"
    rf"completely|an?)\W+){{0,3}}(?:\w+ )?{_JUDGED}\b")
# The writer takes the words back or agrees with them: "Saying that isnt racist, its facts".
_AGREES = re.compile(r"\b(?:true|agree|agreed|facts?|right|correct|spot on|accurate|meant it|mean it|"
                     r"isnt|is not|doesnt|does not|wasnt|was not|arent|are not|aint|not being)\b")
_AGREES_BUT = re.compile(r"\bnot (?:ok|okay|acceptable|alright|funny|cool|on|true|right|correct)\b|\bisnt (?:ok|okay|"
                         r"true|right|acceptable|funny|cool)\b|\bis not (?:ok|okay|true|right|acceptable|funny|cool)\b")


def condemned_after(first: str, second: str) -> bool:
    """True when `second` (the sentence after `first`, both prepared text) names `first`'s words
    as said and judges them, and the writer is not the one they are said about."""
    if not second or _WRITER_TARGET.search(first) or _WRITER_TARGET.search(second):
        return False
    if _AGREES.search(_AGREES_BUT.sub(" ", second)):
        return False  # "saying that isnt sexist, its just facts", "everyone knows its true"
    if _AFTER.search(second):
        return True
    return bool(_SAID_FIRST.search(first) and _SHORT_JUDGEMENT.search(second))

