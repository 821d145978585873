"""Violent-threat wording as structure: who (an actor with intent) + what (a violent verb or outcome) + whom (a target).

The risk model (filters/risk.py) scores threats from few public positives (Gab's
calls for violence) and a hundred hand-written lines, so it misses most of the
ways pupils word a threat. This module reads the sentence's shape instead, on the
risk model's prepared text (filters/text/model.prepare: lower case, apostrophes
dropped, "ill" for "I'll"):

    direct       "im going to stab you", "ill batter u after school", "we should beat him up",
                 "theyre going to jump him after school", "im going to shoot up the school"
    conditional  "youll regret it", "watch your back", "youre dead on monday",
                 "i hope you get your head kicked in", "someone should shoot them all",
                 "they deserve to be hanged", "i want you dead", "id love to see them suffer",
                 and veiled ones: "you wont be walking home on friday", "nobody will find your body"
    group        "all of them should be killed", "time to wipe them all out", "kill all gays",
                 "women deserve to be beaten", "the only good X is a dead X"
    weapon       "bringing my brothers knife tomorrow"
    disclosure   "he said he is going to stab me", "they keep saying theyll jump me":
                 the writer is the target, so it is for the DSL, not a threat by the writer

A match needs all three parts; a negative context in the same sentence vetoes it:
an idiom, a game or sport ("ill kill you at fortnite", "shoot me an email", "hurt my
feelings", "were going to batter them in the derby"), a negation ("i would never hurt
you"), talk about threats ("threats like ill kill you are never ok"), or, for a call
against a group, someone else's words ("he was suspended for saying ..."). Past-tense
third-person reports ("he was shot in 1916") have no actor with intent and never match.
Hidden spellings and weapon emoji are written out first (readable(): "k1ll", "r*pe", "🔪").

Pure functions over compiled patterns; no state. Written for schoolgate from its
own fixtures (tests/filters/test_threats.py) and checked on the training splits of
gab-hate-corpus (calls for violence) and implicit-hate (threatening); docs/risk_model.md.
"""
from __future__ import annotations

import functools
import re
from bisect import bisect_right
from dataclasses import dataclass

from filters.text.matcher import AsciiFast

# -- the parts --

# Violent verbs, base form; _SUFFIX takes their inflections. Strong ones threaten whatever
# they are aimed at; weak ones ("cut", "hit", "jump", "end") only aimed at a person and not
# followed by the word that makes them ordinary ("cut you some slack", "hit you up").
_STRONG = (r"(?:kill|stab|shoot|batter|punch|drown|strangle|poison|murder|choke|torture|lynch|slap|deck|"
           r"shank|merk|knife|slit|rape|beat up|knock out|run over|smash|bash|hurt|beat|attack|smack|thump|twat|whoop|"
           r"wallop|maim|slash|mutilate|behead|castrate|strangle|glass|gun down)")
_WEAK = r"(?:end|do in|sort out|jump|cut|hit|kick|burn|hang|get|finish)"
_SUFFIX = r"(?:s|es|ed|d|ing|ting|ted|ped|ping|bed|bing|ged|ging)?"
_PERSON = (r"(?:you|u|ya|yu|yo|him|her|them|em|yall|you all|all of you|the lot of you|every one of you|each of you|"
           r"everyone in)")
_BODY = (r"(?:(?:your|ur|yer|yo|his|her|their) (?:\w+ )?(?:face|head|teeth|legs?|arms?|neck|nose|jaw|skull|throat|"
         r"kneecaps?|lights|brains?|ass|arse|eyes?|ribs|guts))")
_KIN = (r"(?:(?:your|ur|yer|his|her|their) (?:mum|mom|mam|dad|family|brother|sister|little brother|little sister|"
        r"nan|dog))")
# A person named by a title or a noun: "mr harris", "that teacher", "this kid in my class".
_NAMED = (r"(?:(?:mr|mrs|miss|ms|sir|dr) \w+|(?:that|this|the|every|each) (?:\w+ )?(?:teacher|kid|boy|girl|lad|guy|"
          r"man|woman|bitch|slag|prick|twat|dickhead|idiot|loser|freak|snitch|grass|paedo|nonce|cunt|bastard|"
          # slurs name a target too: "im gonna stab that faggot"
          r"faggot|fag|fxg|fxggot|queer|dyke|tranny|paki|nigger|nigga|nxgger|retard|spastic|spaz|pikey|gyppo|"
          r"teachers|kids|boys|girls|lads|guys))")
_TARGET = rf"(?:{_PERSON}|{_BODY}|{_KIN}|{_NAMED}|\w+ like (?:you|u|him|her|them))"
# Intent: the writer (or "we", or the writer's side) saying they will, or want to.
_INTENT = (r"(?:ill|i will|i shall|im gonna|im going to|i am going to|im gunna|imma|ima|i wanna|i want to|"
           r"im finna|finna|im boutta|boutta|im bout to|im tryna|im goin to|im going 2|im gna|i gna|id like to|"
           r"id love to|i would love to|i really want to|"
           r"i plan to|im planning to|im about to|i swear ill|i swear i will|i swear down ill|ill just|"
           r"we will|were gonna|were going to|we are going to|we wanna|we want to|well|"

           r"my (?:big )?(?:brother|brothers|cousin|cousins|mates|boys|crew|gang|dad|uncle)"
           r" (?:is|are|s|will|ll|)(?: going to| gonna| gunna)?)")
# Follows a weak verb's person in an ordinary sentence.
_ORDINARY_AFTER = (r"(?! (?:an?|the|some|one|back|up|in|off|on|out|over|to|into|from|with|slack|short|loose|down|"
                   r"there|here|home|later|soon|first|when|before|sometime|around|round|"
                   r"for|something|anything|it|this|that|lol|haha|x+)\b)")
# Follows the target in a game or an idiom: "shoot you an email", "kill you at fortnite".
_GAME_AFTER = (r"(?! (?:an?|the|some|one|a quick|back|over|in|on|at)"
               r" (?:email|e mail|mail|text|message|line|dm|pm|link|note|call|invite|photo|pic|look|question|msg|"
               r"reply|update|thought|idea|request|quick|"
               r"fortnite|fifa|cod|call of duty|warzone|minecraft|roblox|apex|valorant|among us|chess|mario kart|"
               r"game|games|the game|a game|ping pong|table tennis|tennis|football|netball|rugby|cards|uno|"
               r"monopoly|pool|darts|smash bros|1v1|1 v 1|the quiz|the test|the exam|the match|the race|"
               r"the (?:talent )?show|karaoke|dodgeball|badminton|basketball|hockey|scrabble|this|that|it)\b)")

_DIRECT = re.compile(
    rf"\b{_INTENT} (?:\w+ ){{0,3}}?{_STRONG}{_SUFFIX} (?:\w+ )?{_TARGET}\b{_GAME_AFTER}"
    rf"|\b{_INTENT} (?:\w+ ){{0,3}}?{_WEAK}{_SUFFIX} {_PERSON}\b{_ORDINARY_AFTER}"
    # "beat the crap out of you", "kick your head in", "break your legs", "put you in hospital"
    rf"|\b{_INTENT} (?:\w+ ){{0,2}}?(?:beat|kick|knock|smash|batter|punch) (?:the )?(?:crap|shit|hell|"
    rf"living daylights|life|snot|shite) (?:out of|outta) {_TARGET}\b"
    rf"|\b{_INTENT} (?:\w+ ){{0,2}}?(?:break|snap|smash|kick|cave|bash|punch) {_BODY}(?: in| out| off)?\b"
    rf"|\b{_INTENT} (?:\w+ ){{0,2}}?put {_PERSON} in (?:hospital|the hospital|a coffin|the ground|a wheelchair|"
    rf"an ambulance|a body bag)\b"
    rf"|\b(?:im|were|i am|we are) (?:coming|comin) for {_PERSON}\b"
    rf"|\b{_INTENT} (?:\w+ ){{0,2}}?make {_PERSON} (?:regret|pay|suffer|sorry|bleed|beg|scream)\b"
    r"(?! (?:for|back) (?!(?:this|that|what|it|everything|saying|ever)\b))"
    rf"|\b{_INTENT} (?:\w+ ){{0,2}}?(?:knock|sort|kick|punch) {_PERSON} (?:out|in)\b"
    rf"|\b{_INTENT} (?:\w+ ){{0,2}}?(?:run|mess|cut|rip|tear|carve|beat|smash|bash|fuck) {_PERSON} (?:over|up|open|apart)\b"
    rf"(?! (?:on|about|at|in (?:the|a) (?:game|match|race|quiz)|for)\b)")

_CONDITIONAL = re.compile(
    r"\b(?:you|u|ya)(?:ll| will| are going to| re going to| are gonna| re gonna|re gonna|re going to| r gonna)"
    r" (?:\w+ )?(?:regret (?:it|this|that|saying|what|ever|the day|messing|crossing)|be sorry(?! (?:you|u) (?:missed|didnt|did not|werent|were not|couldnt|cant|left|went|forgot|had to))|pay for (?:this|that|it)|"
    r"get what (?:you deserve|u deserve|s coming|is coming)|"
    r"get (?:hurt|stabbed|shot|battered|beaten|merked|shanked|jumped|smashed|killed|done in|whats coming)"
    r"(?! (?:if|when) (?:you|u) (?:run|climb|slip|fall|ride|skate|jump|lift|swim|dive|play with|touch the|keep running)\b)|"
    r"wish you (?:hadnt|had never|never|were dead|was dead|were never born))"
    r"|\b(?:watch|mind) (?:your|ur|yer|yo) backs?\b(?! ?(?:pack|packs|door|garden|step|seat|bag|pocket)\b)|\b(?:i|we) know where (?:you|u|ya) live\b"
    r"|\b(?:youre|your|ur|you are|u r|u|you|hes|shes|theyre|he is|she is|they are|is|are) (?:so |literally |actually )?"
    r"(?:getting|gonna get|going to get|about to get) (?:merked|stabbed|shanked|jumped|battered|beaten up|bodied|"
    r"smashed|done in|killed|shot)\b(?! (?:in the (?:back|play|film|game|movie)|in a|by a camera|on film)\b)"
    r"|\b(?:needs?|deserves?|gets?|getting|put|putting|take) (?:a|one) (?:bullet|bullets|knife|blade) (?:in|through|to) "
    r"(?:your|ur|his|her|their|the) (?:\w+ )?(?:head|face|skull|brain|chest|back|heart|neck)\b"
    r"|\b(?:youre|your|ur|you are|u r|ure|yer) (?:so |literally |actually |absolutely )?(?:dead meat|dead"
    r" (?:on|tomorrow|tmrw|tonight|after|when|monday|tuesday|wednesday|thursday|friday|this|next|if|mate|bro|pal|"
    r"man|m8)\b)"
    r"|\b(?:hes|shes|theyre|theyre all|he is|she is|they are) (?:so |literally |actually )?dead (?:on|tomorrow|tmrw|tonight|"
    r"monday|tuesday|wednesday|thursday|friday|when i (?:see|get|catch) (?:him|her|them))\b"
    r"|\b(?:your|ur) days are numbered\b|\b(?:its|this is) your last (?:day|week) (?:alive|on earth|breathing)\b"
    r"|\b(?:wait|just wait) (?:till|until|til) (?:i|we|my brother|my brothers|my mates) (?:get|see|catch|find) (?:you|u|ya)\b"
    r"|\b(?:someone|somebody|some one|anyone) (?:should|needs to|need to|ought to|has to|must|is going to|"
    r"s going to|will|gonna) (?:just |really |finally )?(?:kill|stab|shoot|hang|hurt|beat up|batter|murder|lynch|"
    r"gas|bomb|string up|run over|poison|drown|shank) (?:\w+ )?(?:them|him|her|you|those|these|all|every|"
    r"the lot)\b"
    r"|\b(?:i|we) (?:hope|wish|pray) (?:that )?(?:you|u|he|she|they|ya) (?:\w+ )?(?:dies?\b|(?:gets?|got) "
    r"(?:(?:your|ur|his|her|their) (?:\w+ )?(?:head|face|teeth|legs?|neck) (?:kicked|smashed|punched|caved|bashed) in|"
    r"stabbed|shot|killed|beaten|battered|murdered|run over|hit by a (?:car|bus|train|lorry)|raped|hanged|gang raped|"
    r"sodomi[sz]ed|burned alive|burnt alive|beheaded|tortured to death|raped to death|"
    r"jumped|lynched|tortured)\b)"
    r"|\b(?:deserves?|deserved) (?:to|2) (?:die|be (?:killed|shot|stabbed|hanged|hung|beaten|burned|burnt|gassed|"
    r"lynched|executed|tortured|murdered|raped|put down|strung up)|get (?:killed|shot|stabbed|hanged|beaten|"
    r"battered|raped|jumped))\b"
    r"|\b(?:they|them|he|she|you|u|all of them|all of you|every (?:last |single )?\w+|all (?:the )?\w+|those \w+|"
    r"these \w+|people like (?:him|her|them|that|you)|his kind|their kind|your kind|\w+ like (?:him|her|them|you))"
    r" (?:\w+ )?(?:should|must|need to|needs to|ought to|have to|has to|deserve to|deserves to) (?:all |just |really |)"
    r"(?:be|get) (?:killed|shot|hanged|hung|drowned|gassed|stabbed|beaten|lynched|exterminated|wiped out|put down|"
    r"strung up|shot dead|murdered|tortured|burned alive|burnt alive|lined up and shot|rounded up)\b"
    r"(?! (?:in|on|with|at|from|using|for|by the|off)\b)"
    r"|\b(?:should|must|needs? to|ought to|deserves? to) (?:all |just |really |)(?:be|get) (?:hanged|lynched|gassed|"
    r"strung up|shot dead|put down like|lined up and shot|shot like)\b"
    r"|\b(?:they|he|she|all of them|all (?:the )?\w+|those \w+|these \w+|traitors|every (?:last |single )?\w+)"
    r" (?:\w+ )?(?:should|must|need to|needs to|ought to|deserve to|deserves to) (?:all |just |)(?:hang|die|burn)\b"
    r"(?! (?:out|down|off|in a|in hell)\b)")

# A group as a target or subject: a determiner and a noun, or a plural noun ("all women",
# "the next immigrant", "muslims", "trans people"); things are vetoed by _THINGS.
_PEOPLE = (r"(?:(?:[a-z]+ )?(?:(?:wo)?men|people|folk|kids|girls|boys|lads)|gays|lesbians|trans|immigrants|migrants|"
           r"refugees|asylum seekers|foreigners|muslims|jews|christians|hindus|sikhs|catholics|blacks|whites|asians|"
           r"arabs|gypsies|travellers|the disabled|disabled|feminists|liberals|leftists|lefties|tories|commies|"
           r"communists|nazis|protesters|traitors|paedos|pedos|cops|police|teachers|the lot of them)")
# The same where a match starts: the adjective need not be read (and trying it at every word is slow).
_PEOPLE_HEAD = _PEOPLE.replace("(?:(?:[a-z]+ )?(?:(?:wo)?men", "(?:(?:(?:wo)?men", 1)
_A_GROUP = (rf"(?:(?:all|every|each|any|the next|those|these|more|some|the)(?: of the| the| of)? (?:\w+ )?\w+|{_PEOPLE})")
# Verbs no game or idiom uses on a group: "ill kill all the ..." is only vetoed for things.
_MASS = (r"(?:kill|murder|stab|shoot|slaughter|exterminate|lynch|gas|hang|massacre|wipe out|torture|rape|butcher|"
         r"behead|burn|crucify|beat up)")

_GROUP = re.compile(
    rf"\b{_INTENT} (?:\w+ ){{0,3}}?{_MASS}{_SUFFIX} {_A_GROUP}\b"
    rf"|(?:^|[!.,:;] *)\W*death to (?:all |every |the )?(?:{_PEOPLE}|them|him|her|you)\b"
    rf"|\b{_PEOPLE_HEAD} (?:\w+ )?(?:should|must|need to|needs to|ought to|deserve to|have to) (?:all |just |really |)"
    r"(?:be|get) (?:killed|shot|hanged|hung|gassed|stabbed|lynched|exterminated|wiped out|put down|strung up|"
    r"shot dead|murdered|tortured|burned alive|burnt alive|slaughtered|eradicated|eliminated|massacred|butchered|"
    r"beheaded)\b(?! (?:in|on|with|at|from|using|for|by the|off)\b)"
    rf"|\b{_PEOPLE_HEAD} (?:\w+ )?(?:should|must|need to|needs to|ought to|deserve to) (?:all |just |)(?:die|hang|burn)\b"
    r"(?! (?:out|down|off|in a|in hell)\b)"
    r"|\b(?:time to|its time we|we need to|we should|we must|lets|let us|we have to|we gotta|we got to|i say we|"
    r"we will|were going to|were gonna) (?:\w+ )?"
    rf"(?:kill|shoot|hang|gas|exterminate|lynch|slaughter|bomb|string up|murder|massacre|wipe out){_SUFFIX}"
    r" (?:them all|all of them|all|every|each|the lot|these|those|them|em)\b"
    r"|\b(?:exterminate|lynch|slaughter|massacre|string up) (?:the|all|every|those|these) \w+"
    r"|\b(?:gas|hang) (?:all|every|those|these) \w+"
    r"|\b(?:wipe|string) (?:them all|them|all of them|the lot of them) (?:out|up)\b"
    r"|\b(?:kill|shoot|hang|gas|exterminate|lynch|slaughter|wipe out) (?:them all|all of them|every one of them|"
    r"every last one)\b")

# Others urged to do it, or the writer's side: "we should beat him up", "someone needs to stab that kid".
_URGE = (r"(?:we should|we need to|we must|we gotta|we have to|we ought to|lets|let us|lets go and|lets go|"
         r"(?:someone|somebody|some1|anyone|people|yall|you lot|u lot) (?:should|needs to|need to|must|has to|"
         r"have to|ought to|gotta)|i say we|time to|its time to|its time we|"
         # a duty or a right to do it: "it is our duty to ...", "we have every right to ..."
         r"(?:its|it is|it s) (?:our|my|everyones|every \w+s) (?:duty|job|right|responsibility) to|"
         r"we have (?:a|every) (?:duty|right) to|(?:its|it is) only right to)")
# A third person's intent against someone else, reported as a warning ("theyre going to jump him
# after school"); "kill" and "murder" are left out (a parent's "shes going to kill you" is an idiom).
_THIRD_ACTOR = (r"(?:he|she|they|hes|shes|theyre|his (?:mates|brother|brothers|"
                r"boys|cousins)|her (?:mates|brother|brothers|boys|cousins)|the (?:boys|lads|girls) from \w+)")
_THIRD_VERB = (r"(?:stab|shank|jump|batter|beat up|shoot|merk|rape|knife|bash|punch|strangle|slit|glass|cut up|"
               r"kick (?:the )?(?:shit|crap|hell) out of)")
# Buildings: "shoot up the school", "bomb the mosque", "burn your house down".
_PLACE = (r"(?:the|this|that|our|your|ur|my|their|his|her|a|every|all the|all) (?:\w+ )?(?:school|schools|college|"
          r"academy|mosque|mosques|synagogue|synagogues|church|churches|temple|temples|gurdwara|gurdwaras|house|"
          r"home|flat|classroom|canteen|assembly|assembly hall|refugee centre|hostel|hotel full of \w+|club|nightclub|"
          r"gay bar|pride march|pride parade|pride event|community centre)")
_PLACE_ATTACK = (rf"(?:(?:shoot up|bomb|blow up|firebomb|petrol bomb|torch|set fire to|burn down|attack) {_PLACE}\b"
                 rf"|burn {_PLACE} down\b)")
# Violent outcomes a person or a group is said to deserve, need or be wished.
_OUTCOME = (r"(?:killed|shot|hanged|hung|drowned|gassed|stabbed|beaten|beaten up|beaten to death|lynched|exterminated|"
            r"wiped out|wiped (?:off|from) the (?:face of the )?(?:earth|planet|map)|put down|strung up|shot dead|murdered|"
            r"tortured|burned alive|burnt alive|burned|burnt|slaughtered|massacred|butchered|beheaded|raped|"
            r"executed|set on fire|shot on sight|nuked|bombed|castrated|culled|stoned to death|hunted down|"
            r"put in (?:a |the )?(?:camps?|gas chambers?|ovens?)|sent to the gas chambers?|lined up and shot|"
            r"rounded up and (?:shot|killed|gassed)|(?:burned|burnt|driven|run) out of (?:town|their homes?|the country)|"
            r"put down at birth|put down like (?:dogs|animals|rabid dogs)|eliminated|eradicated|purged|crucified|skinned alive|"
            r"nailed to (?:the wall|a cross|a tree)|impaled|strangled|poisoned|suffocated|choked to death|kicked to death|"
            r"stamped to death|stabbed to death|knifed)")
# A punishment before "or"/"and" an outcome: "imprisoned or shot", "arrested and hanged".
_PUNISHED = (r"(?:imprisoned|jailed|deported|arrested|locked up|castrated|tortured|beaten|shot|hanged|hung|whipped|"
             r"flogged|stoned|tried|rounded up|caught|dragged out)")
# Words after an outcome that make it ordinary: "shot in black and white", "killed off", "put down
# in writing", "burnt out", "hung on the wall".
_OUTCOME_AFTER = (r"(?:(?<!shot)(?<!killed)(?<!hung)(?<!put down)(?<!burned)(?<!burnt)(?<!wiped out)(?<!executed)"
                  r"(?<!bombed)|(?! (?:in|on|with|at|from|using|for|by|off|out|up|as|into|onto)\b))")
_IDENTITY = (r"(?:women|gays|lesbians|queers|faggots|fags|fxgs|fxggots|dykes|niggers|niggas|nxggers|spastics|spazzes|"
                r"homos|homosexuals|bisexuals|trans|trannies|muslims|moslems|jews|christians|hindus|sikhs|catholics|"
                r"protestants|atheists|blacks|whites|asians|arabs|africans|mexicans|pakis|poles|romanians|chinese|"
                r"indians|pakistanis|somalis|syrians|afghans|albanians|gypsies|travellers|roma|pikeys|immigrants|"
                r"migrants|refugees|asylum seekers|foreigners|illegals|invaders|the disabled|disabled|retards|"
                r"cripples|spastics|feminists|liberals|leftists|lefties|tories|conservatives|commies|communists|"
                r"socialists|nazis|fascists|antifa|protesters|traitors|paedos|pedos|nonces|democrats|dems|republicans|libs|"
                r"libtards|globalists|zionists|jihadis|islamists|muzzies|leftists|journalists)")
_IDENTITY_ONE = (r"(?:(?:[a-z]+ )?(?:person|man|woman|girl|boy|kid|child|lad|guy)|muslim|jew|christian|hindu|sikh|"
                 r"gay|lesbian|queer|homo|tranny|immigrant|migrant|refugee|asylum seeker|foreigner|illegal|paki|gypsy|"
                 r"traveller|pikey|feminist|leftie|lefty|liberal|tory|commie|nazi|paedo|pedo|nonce|retard|cripple|spastic)")
_HUMAN_GROUP = (rf"(?:(?:[a-z]+ )?(?:(?:wo)?men|people|folk|kids|children|babies|girls|boys|lads)|{_IDENTITY}|cops|police|"
                rf"politicians)")
# A group noun where a match starts: the adjective before it ("black people") need not be read,
# and trying "[a-z]+ " at every word is most of the cost of the group patterns.
_GROUP_HEAD = rf"(?:(?:wo)?men|people|folk|kids|children|babies|girls|boys|lads|{_IDENTITY}|cops|police|politicians)"
# The group nouns that name a group without a determiner ("kill muslims"): not people, kids, men.
_NAMED_GROUP = (r"(?:(?!(?:the|all|some|more|these|those|many|most|few|other|young|old|little|poor|innocent|us|we|"
                r"you|them|they|such|so|how|what|which|whose|our|your|their|my|his|her|its|of|to|and|or|but|that|"
                r"who|are|is|were|was|if|when|because|"
                rf"real|normal|good|bad|dead|\d+) )[a-z]+ (?:people|folk)|{_IDENTITY})")
_WISHER = (r"(?:i|id|i would|we|wed|we would|i really|i just|i so|i honestly|i seriously)")
_WISH_TARGET = (rf"(?:you|u|ya|him|her|them|em|yall|you all|all of you|all of them|every one of (?:you|them)|"
                rf"{_KIN}|your whole family|{_NAMED}|(?:all|every|every last|every single|those|these|the|some|"
                rf"all the|all those|all these) (?:\w+ )?{_HUMAN_GROUP}|(?:every|every single|every last) \w+|"
                rf"{_HUMAN_GROUP})")
_WISH = (rf"\b{_WISHER} (?:\w+ )?(?:want|wanna|love|like|cant wait|can not wait|cannot wait|hope|wish|would like|"
         rf"would love)(?: to)?(?: (?:see|watch|hear of|hear about))? {_WISH_TARGET}"
         rf" (?:all |just |slowly |finally )?(?:dead|die|dying|suffer|suffering|bleed|bleeding|burn|burning|hang|"
         rf"exterminated|wiped out|gassed|killed|shot|hanged|eliminated|eradicated|slaughtered|lynched|"
         rf"hanging|in (?:a coffin|a box|the ground|a body bag|hospital)|six feet under|gone for good)\b"
         rf"(?! (?:of|from|laughing|inside|with laughter|for|to|good|funny|nice|easy|right|jealous|lucky|serious|proud|"
         rf"happy|excited|chuffed|cute|hard|quick|fast|slow|boring|loud|quiet|posh|expensive|cheap|good at)\b)")

_DIRECT_MORE = re.compile(
    rf"\b{_URGE} (?:\w+ ){{0,2}}?{_STRONG}{_SUFFIX} (?:\w+ )?{_TARGET}\b{_GAME_AFTER}"
    rf"|\b(?:theyll|hell|shell|{_THIRD_ACTOR} (?:is |are |s |re )?(?:going to|gonna|gunna|will|wants to|wanna|"
    rf"planning to|finna|about to)) (?:\w+ ){{0,2}}?{_THIRD_VERB}{_SUFFIX} (?:him|her|them|you|u|ya|{_NAMED})\b"
    rf"{_GAME_AFTER}(?! (?:in the back|to|into|onto|up|ahead|over|the queue|the line)\b)"
    # a named person with a time or place: "im going to kill jake tomorrow"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?(?:kill|stab|shank|merk|batter|punch|shoot|strangle|rape|knife)"
    rf" (?!(?:it|this|that|the|a|an|some|my|our|these|those|time|myself|yourself|off|up|at|in|on|for|with|out|down)\b)"
    rf"\w+ (?:tomorrow|tmrw|tonight|after school|at school|outside|at break|at lunch|on (?:monday|tuesday|wednesday|"
    rf"thursday|friday)|when i see (?:him|her)|if (?:he|she) )"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?(?:stab|shank|strangle|rape|slit|knife) (?!(?:it|this|that|the|a|an|"
    rf"some|my|our|these|those|myself|yourself|up|at|in|on|for|with|through|into)\b)\w+\b"
    rf"|\b(?:{_INTENT}|{_URGE}|(?:someone|somebody) (?:will|is going to|is gonna)) (?:\w+ ){{0,2}}?{_PLACE_ATTACK}"
    rf"|\b{_INTENT} (?:\w+ ){{0,2}}?hunt {_PERSON} down\b"
    rf"|\b{_INTENT} (?:\w+ ){{0,2}}?make sure (?:you|u|he|she|they) (?:never|cant|cannot|wont|dont) (?:walk|talk|see|"
    rf"breathe|wake up|come back|come home)(?: again)?\b"
    rf"|\b(?:kill|shoot|blow up|hang) myself\b.{{0,30}}\btake (?:you|u|them|him|her|everyone|you all|all of you|"
    rf"some of you|people|the lot of you) (?:with me|down with me)\b")

_CONDITIONAL_MORE = re.compile(
    rf"{_WISH}"
    rf"|\b(?:hope|wish|pray) (?:that )?(?:{_KIN}|your whole family|all of (?:you|them)|(?:all|every|all the) (?:\w+ )?"
    rf"{_HUMAN_GROUP}) (?:\w+ )?(?:dies|die|burn|burns|rot|rots|(?:gets?|got) (?:killed|shot|stabbed|raped|murdered|"
    rf"run over|hit by a (?:car|bus|train|lorry)))\b(?! (?:of|from|laughing|in hell)\b)"
    rf"|\b(?:hope|wish|pray) (?:that )?(?:someone|somebody|some1) (?:\w+ )?(?:stabs|kills|shoots|rapes|murders|hurts|"
    rf"beats up|batters|runs over|jumps) (?:you|u|him|her|them|{_NAMED})\b"
    rf"|\b(?:you|u|ya)(?:ll| will| are going to| re going to|re going to| are gonna|re gonna| re gonna| r gonna| gonna)"
    rf" (?:\w+ )?die (?:tonight|tomorrow|today|slowly|painfully|soon|on (?:monday|tuesday|wednesday|thursday|friday|"
    rf"saturday|sunday)|alone|screaming|in your sleep|by my hand|for this|for what you|next week)\b"
    rf"|\bif (?:i|we) (?:ever )?(?:see|catch|find)\b.{{0,40}}\b(?:youre|ur|you are|u r|yer|hes|shes|theyre)"
    rf" (?:so )?dead\b(?! (?:funny|good|nice|right|jealous|lucky|easy|to me)\b)"
    rf"|\b(?:someones|somebodys|someone is|somebody is|someone will|someone|somebody) (?:gonna|going to|about to|"
    rf"getting|get|gonna end up|going to end up) (?:get )?(?:stabbed|shot|killed|merked|shanked|jumped|battered)\b"
    rf"(?! (?:in the (?:back|play|film|game|movie)|by a camera|on film)\b)"
    rf"|\b(?:someone|somebody|some1|anyone) (?:should|needs to|need to|ought to|has to|must|is going to|will|gonna)"
    rf" (?:just |really |finally )?(?:rape|stab|shoot|kill|murder|batter|beat up|hang|burn|bomb) {_NAMED}\b"
    rf"|\b(?:someone|somebody|some1) (?:should|needs to|need to|ought to|has to|must|is going to|will|gonna)"
    rf" (?:just |really |finally )?rape (?:her|him|them|you|u)\b"
    rf"|\b(?:\w+ like (?:you|u|him|her|them)|people like (?:you|u|him|her|them)|you|u|he|she|they|all of (?:you|them))"
    rf" (?:\w+ )?(?:should|must|need to|needs to|ought to|deserve to|deserves to) (?:all |just |really |immediately |"
    rf"simply |publicly |)(?:be|get) (?:{_PUNISHED} (?:or|and) )?{_OUTCOME}\b{_OUTCOME_AFTER}"
    rf"|\b(?:they|he|she|all of them|{_GROUP_HEAD}) (?:all )?(?:shouldve|should have) (?:all )?been {_OUTCOME}\b"
    rf"{_OUTCOME_AFTER}"
    rf"|\b(?:deserves?|needs?|wants?) (?:nothing but |only )?(?:a|one|the) bullet\b(?! (?:point|points|proof|train|journal|list)\b)"
    rf"|\b(?:deserves?|needs?) (?:a )?(?:good )?(?:beating|kicking|battering|hiding|shoeing|stabbing|bullet in"
    rf" (?:the|his|her|their) head)\b(?! (?:every|now and|once in|sometimes|from time)\b)"
    rf"|\b(?:needs?|deserves?) (?:his|her|their|your|ur) (?:ass|arse|head|face|skull|teeth) (?:kicked|beaten|smashed|"
    rf"caved|bashed|kicked in|knocked in|knocked out|punched in)\b"
    rf"|\b(?:id|i would|id happily|i would happily|id gladly|i would gladly|id love to|id like to) (?:\w+ )?"
    # "id kill you" alone is mostly exasperation ("id kill you lol"); a stronger verb or another target is not
    rf"(?:(?:kill|murder) (?!you\b|u\b)|(?:stab|shoot|strangle|hang|lynch|rape|shank|beat up|batter|punch|torture) )"
    rf"(?:you|u|him|her|them|"
    rf"that \w+|this \w+|every \w+|all of (?:you|them)|all (?:the )?{_HUMAN_GROUP})\b{_GAME_AFTER}"
    rf"(?! (?:for|to|if i (?:could|had))\b)"
    rf"|\b(?:you|u|ya) (?:had )?(?:better|best|betta) (?:watch yourself|watch your back|sleep with one eye open|"
    rf"start running|start praying)\b")

# Veiled threats: a harm implied, not named. Their negation is part of the threat ("you wont be
# walking home", "nobody will find your body"), so the negation veto does not apply to them.
_VEILED = re.compile(
    rf"\b(?:you|u|ya)(?: will|ll| are| re|re| r)? (?:not|never|wont|arent|aint) (?:be )?(?:walking|going|getting|"
    rf"coming|making it|gonna make it|going to make it) home\b"
    rf"|\b(?:see|watch) what happens (?:to (?:you|u|him|her)\b|(?:\w+ ){{0,3}}?(?:if|when) (?:you|u) (?:do|say|tell|try|"
    rf"come|show)\b|when i (?:see|get|catch) (?:you|u|him|her)\b)"
    rf"|\b(?:keep (?:talking|it up|going|laughing)|say (?:that|it|one more thing) again|try it) and (?:see what happens|"
    rf"(?:you|u)ll see)\b"
    rf"|\b(?:you|u) (?:had )?(?:better|best|betta) not (?:come|show|turn up|be) (?:in|up|to school|at school|"
    rf"(?:on|at) \w+)\b"
    rf"|\b(?:ill|i will|im going to|im gonna|imma|ima|we will|were going to) (?:\w+ )?make (?:your|ur) life (?:hell|a"
    rf" living hell|miserable)\b"
    rf"|\bi know (?:what|which) (?:bus|train|way|route|school) (?:you|u) (?:get|take|walk|go)\b"
    rf"|\b(?:you|u|ya)(?:ll| will|re going to|re gonna| are going to| are gonna| gonna)? end up (?:in a wheelchair|"
    rf"in a coffin|in the ground|in a body bag|six feet under|dead)\b"
    rf"|\b(?:no one|nobody|noone) (?:will|is going to|is gonna|gonna|would) (?:ever )?find (?:your|ur|his|her|the)"
    rf" body\b"
    rf"|\b(?:tell|ask) (?:your|ur) (?:mum|mom|mam|family|dad|nan) to say (?:goodbye|bye) to (?:you|u)\b"
    rf"|\bif (?:you|u) know whats good for (?:you|u|ya)\b"
    rf"|\b(?:ill|i will|im going to|im gonna|imma|ima|we will|well|were going to) (?:\w+ )?(?:send|put) (?:you|u|him|her)"
    rf" (?:to|in) (?:the )?(?:hospital|a and e|a&e|intensive care|the morgue|an early grave)\b"
    rf"|\b(?:ill|i will|im going to|im gonna|imma|ima|we will|well|were going to) (?:\w+ )?(?:get|pay) (?:you|u|him|"
    rf"her) back for (?:this|that|what)\b"
    rf"|\b(?:sleep with one eye open|(?:you|u)r?e? (?:not|never) (?:gonna|going to) (?:make it|live) to (?:see )?"
    rf"(?:year \d+|your birthday|the end of (?:the|this) (?:week|term|year)|next (?:week|year|term)))\b")

# Every veiled alternative needs one of these phrases: the rest of _VEILED is tried only then.
_VEILED_GATE = re.compile(
    r"\b(?:(?:walking|going|getting|coming|making it|make it) home|what happens|ll see|(?:what|which) (?:bus|train|way|"
    r"route|school)|end up|find (?:your|ur|his|her|the) body|say (?:good)?bye to|whats good for|hospital|a and e|a&e|"
    r"intensive care|morgue|early grave|back for|one eye open|make it to|live to|better not|best not|make (?:your|ur) life)")

# "muslims will be exterminated", "you all are going to suffer"; "start killing ..." in the writer's
# or an urging voice (a news line "theyll start shooting minority kids" is neither).
_WILL_BE_KILLED = (rf"(?:will|are going to|are gonna|shall) (?:all )?be (?:exterminated|wiped out|gassed|slaughtered|"
                   rf"massacred|lynched|hanged|burned alive|burnt alive|executed|eradicated|eliminated|shot|killed|raped|"
                   rf"beheaded|put down)\b{_OUTCOME_AFTER}")
_WILL_SUFFER = (r"(?:will|are going to|are gonna|shall) (?:all )?(?:pay|suffer|bleed|burn|die)\b"
                r"(?! (?:for (?:the|a|their|your|it)|the|a|back|up|of|from|laughing|\d)\b)")
_START_KILLING = (rf"(?:start|begin|keep|carry on|go) (?:killing|shooting|hanging|gassing|stabbing|lynching|burning|"
                  rf"beating up|raping|murdering|exterminating|slaughtering|bombing|executing) (?:all |the |every |more |"
                  rf"some |those |these )?(?:\w+ )?{_HUMAN_GROUP}\b")

_GROUP_MORE = re.compile(
    rf"(?<!how )(?<!how many )(?<!many more )\b{_GROUP_HEAD} (?:(?:\w+ ){{0,4}}?(?:and|so|who|which|that) "
    rf"(?:\w+ ){{0,4}}?)?(?:\w+ )?"
    rf"(?:should|must|need to|needs to|ought to|deserve to|have to|all deserve to) (?:all |just |really |immediately |"
    rf"simply |publicly |)(?:be|get) (?:{_PUNISHED} (?:or|and) )?{_OUTCOME}\b{_OUTCOME_AFTER}"
    rf"|\b(?:should|must|needs? to|ought to|deserves? to) (?:all |just |really |)(?:be|get) (?:exterminated|slaughtered|"
    rf"massacred|burned alive|burnt alive|beheaded|gassed|wiped off the (?:face of the )?(?:earth|planet|map)|"
    rf"put in (?:a |the )?(?:camps?|gas chambers?|ovens?)|sent to the gas chambers?|shot on sight)\b"
    # an imperative at the start of a clause: "kill all gays", "hang every traitor"
    rf"|(?:^|[!.,:;] *)\W*(?:kill|shoot|hang|gas|burn|stab|murder|rape|bomb|nuke|exterminate|slaughter|lynch|massacre|"
    rf"behead|drown|beat up|eliminate|eradicate|purge|castrate) (?:them|him|her|em)\b"
    rf"(?! (?:up|on|in|out|off|all over|with|down|for|to|into|at|back|first|later|now)\b)"
    rf"|(?:^|[!.,:;] *)\W*(?:kill|shoot|hang|gas|burn|stab|murder|rape|bomb|nuke|exterminate|slaughter|lynch|massacre|"
    rf"behead|drown|beat up|eliminate|eradicate|purge|castrate) (?:(?:all|every|each|those|these|more)(?: of)?(?: the| them| those)? (?:fucking |dirty |"
    rf"filthy |damn )?{_HUMAN_GROUP}|(?:the |fucking |dirty |filthy )?{_NAMED_GROUP})\b"
    rf"|\b{_URGE} (?:go (?:and |out and )?)?(?:\w+ )?(?:kill|shoot|hang|gas|burn|stab|murder|rape|bomb|beat up|bash|"
    rf"attack|exterminate|slaughter|lynch|massacre|string up|round up and \w+|execute|crucify){_SUFFIX} (?:all |every |each |some |"
    rf"the |those |these |more )?(?:of the |the |of them |fucking |dirty |filthy )?{_HUMAN_GROUP}\b"
    rf"|\b(?:kill|shoot|murder|stab|gas|hang) (?:every|each|all|any) (?:\w+ )?{_HUMAN_GROUP} (?:on sight|you see|in sight)\b"
    rf"|\b(?:kill|shoot|murder|stab) (?:every|each|all|any|them|the) (?:\w+ )?\w+ on sight\b"
    rf"|\bthe only good \w+(?: \w+)? (?:is|are) (?:a |the )?dead(?: \w+)?\b"
    rf"|(?:^|[!.,:;] *)\W*death to (?:all |every |the )?(?:\w+ )?{_HUMAN_GROUP}\b"
    # the writer's intent against a group: "im going to beat up every immigrant i see", "id love to kill a muslim"
    rf"|\b(?:{_INTENT}|{_URGE}|id|i would|id happily|id gladly) (?:\w+ ){{0,2}}?{_STRONG}{_SUFFIX} (?:(?:all|every|each|any|"
    rf"the next|those|these|some|more)(?: of)?(?: the| them| those)? (?:\w+ )?{_HUMAN_GROUP}|{_NAMED_GROUP}|(?:a|an|any|"
    rf"every|the next) (?:\w+ )?{_IDENTITY_ONE}|(?:the next|every|any) \w+ (?:i|we) (?:see|meet|find|catch))\b"
    rf"{_GAME_AFTER}"
    rf"|\b(?:slit|cut) (?:\w+ ){{0,3}}?throats?\b"
    rf"|\bmake sure (?:every|all|each|those|these) (?:\w+ )?\w+ (?:suffers?|dies?|bleeds?|burns?)\b"
    rf"|\b(?:not|never|wont) (?:rest|stop) (?:until|till|til) (?:every|all|each|the last) (?:\w+ )?\w+ (?:is|are) (?:dead|gone|killed|"
    rf"wiped out|exterminated|six feet under)\b"
    rf"|\b(?:you|u|yall) (?:\w+ ){{0,2}}?(?:are all|will all|all) (?:going to |gonna )?(?:die|burn|hang|be (?:killed|shot|"
    rf"hanged|exterminated|wiped out|gassed))\b(?! (?:of|from|laughing|when|if|for|to|in the)\b)"
    rf"|\b(?:any|every|the next) \w+ (?:\w+ ){{0,5}}?(?:will|is going to|is gonna|gonna) get (?:stabbed|shot|killed|hurt|"
    rf"beaten|battered|lynched|burned|a (?:broken )?(?:bottle|knife|bullet|brick|blade) (?:in|to|through))\b(?! (?:in the (?:back|play|film|game|movie)|by a camera|on film)\b)"
    rf"|\b(?:deserves?|deserved) (?:a |to die a )?(?:slow|painful|horrible|brutal|violent|agonising|agonizing) death\b"
    rf"|\bmake (?:all|every|those|these) (?:\w+ )?{_HUMAN_GROUP} (?:pay|suffer|bleed)\b"
    rf"|\b(?:needs?|deserves?) (?:a )?(?:good )?raping\b"
    rf"|\b(?:needs?|deserves?) a (?:good |public )?(?:impaling|hanging|lynching|kneecapping|shooting|stabbing)\b"
    rf"|\bdeserves? (?:impaling|hanging|lynching|kneecapping)\b"
    rf"(?! (?:up|out|practice|lesson|range|star|competition|pain|pains|sensation)\b)"
    rf"|\bheads? on (?:a )?(?:pikes?|spikes?|sticks?|a plate)\b"
    rf"|(?:^|[!.,:;] *)\W*(?:kill|shoot|stab|gas|hang|nuke|bomb) (?:every|all|all the) (?:\w+ )?\w+ (?:tomorrow|today|"
    rf"tonight|now|on sight|you see|in sight)\b"
    # future and ongoing violence against a named group: "muslims will be exterminated", "start killing ..."
    rf"|\b{_IDENTITY} {_WILL_BE_KILLED}|\b(?:you all|all of you|yall) {_WILL_BE_KILLED}"
    rf"|\b{_IDENTITY} {_WILL_SUFFER}|\b(?:you all|all of you|yall) {_WILL_SUFFER}"
    rf"|(?:^|[!.,:;] *){_START_KILLING}|\b(?:{_INTENT}|{_URGE}) {_START_KILLING}"
    rf"|\b(?:every|any) \w+ (?:i|we) (?:see|meet|find|catch) (?:gets?|will get|is getting) (?:a |the )?(?:beating|"
    rf"kicking|bullet|knife|stabbing|battering)\b"
    rf"|\b{_URGE} (?:\w+ )?get rid of (?:all |every |the |these |those )?(?:{_NAMED_GROUP}|{_IDENTITY}) (?:once and for"
    rf" all|for good|permanently|forever)\b"
    rf"|\b(?:killing|shooting|hanging|gassing|lynching|exterminating|murdering|beating up) (?:all |the |more )?"
    rf"{_HUMAN_GROUP} (?:is|would be) (?:self defen[cs]e|good|fun|justified|a duty|our duty|the answer|the only way|"
    rf"necessary|the solution|a public service|a good thing)\b"
    rf"|\b(?:send|take|drag|march) (?:them|him|her|em|all of them|the \w+|those \w+|every \w+) (?:\w+ ){{0,2}}?to the"
    rf" (?:guillotine|gallows|gas chambers?|ovens?|firing squad|noose)\b"
    rf"|\bround (?:them|em|the \w+|all the \w+|all of them) up and (?:shoot|kill|gas|hang|burn|execute|drown)\b"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?(?:bomb|blow up|burn down|burn|torch|firebomb|shoot up) (?:all )?(?:the |"
    rf"their |those |these )?(?:mosques|synagogues|churches|temples|gurdwaras|refugee centres|hostels)\b")

_WEAPON_ITEM = (r"(?:knife|knifes|knives|blade|machete|gun|shank|zombie knife|baseball bat|hammer|weapon|"
                r"acid|crowbar|flick knife|kitchen knife|stanley knife|lock knife|pistol|shotgun)")
_WEAPON = re.compile(
    rf"(?:\b(?:im|i am|ill|i will|im gonna|im going to|imma|ima|were|we are|gonna|going to|i|we|ive|weve)"
    rf" (?:\w+ )?|^)(?:bring|bringing|brought|take|taking|carry|carrying|pack|packing|got|get|getting|have|"
    rf"got a hold of)"
    rf" (?:a|my|the|our|me|mums|my mums|dads|my dads|brothers|my brothers|cousins|my cousins|my big|a big|a"
    rf" proper|my new)(?: \w+){{0,2}}? {_WEAPON_ITEM}\b"
    rf"(?= .*\b(?:tomorrow|tmrw|tonight|monday|tuesday|wednesday|thursday|friday|school|for (?:you|u|him|her|them)|"
    rf"after school|at break|at lunch|in my bag|on me|to use|to sort|next week|this week|in case|to the park)\b)"
    rf"|\b(?:my|this) {_WEAPON_ITEM} (?:has|has got|s got|with) (?:your|ur|his|her) name on it\b")

# The writer as the target: a third person said, or says they will, do violence to "me".
_HARM = (r"(?:kill|stab|shoot|hurt|beat|batter|punch|smash|drown|strangle|poison|attack|bash|murder|choke|"
         r"torture|slap|deck|shank|merk|knife|hit|kick|jump|rape|beat up|knock out|run over|cut|burn|break)")
_THIRD = (r"(?:he|she|they|hed|shed|theyd|hell|shell|theyll|hes|shes|theyre|someone|somebody|people|this (?:boy|girl|"
          r"guy|kid|lad|man|woman)|some (?:boys|girls|kids|lads|year \d+s?)|the (?:boy|girl|guy|kid|lads|boys|girls)|"
          r"his (?:mates|friends|brother)|her (?:mates|friends|brother))")
_WILL = (r"(?:(?: is| are|s|re)? (?:going to|gonna|gunna)|(?: will|ll|d| would)|(?: wants? to| wanna)|"
         r"(?: was| were) (?:going to|gonna))")
_ME = r"(?:me|my (?:\w+ )?(?:face|head|legs?|family|mum|brother|sister))\b(?! (?:over|a lift|a text|an?|the|to it)\b)"
_DISCLOSURE = re.compile(
    rf"\b(?:said|says|saying|keeps? saying|kept saying|told me|tells me|texted|messaged|posted|threatened|"
    rf"threatening|keeps? telling me|sent me|wrote|promised|swore|swears)(?: (?:me|that|to me))? "
    rf"{_THIRD}(?:{_WILL})? (?:\w+ ){{0,4}}?{_HARM}{_SUFFIX} (?:\w+ )?{_ME}"
    rf"|\b{_THIRD}{_WILL} (?:\w+ ){{0,3}}?{_HARM}{_SUFFIX} {_ME}"
    rf"|\b{_THIRD} (?:\w+ )?(?:pulled|had|showed|brought|held|put) (?:a|his|her|their) {_WEAPON_ITEM} (?:on|at|to|"
    rf"against) (?:me|my)\b"
    rf"|\b(?:threatened|threatening|threaten|threatens) (?:to )?{_HARM}{_SUFFIX} {_ME}"
    rf"|\b(?:threatened|threatening|threaten|threatens) me with (?:a |his |her )?{_WEAPON_ITEM}\b")

# -- what vetoes a match in the same sentence --

# Talk about threats (a lesson, a policy, condemnation, literature), not a threat.
_ABOUT = re.compile(
    r"\b(?:threats? (?:like|such as|of)|(?:is|are|its|it is|was|were) (?:never|not|no longer) (?:ok|okay|acceptable|"
    r"alright|allowed|funny|a joke|banter)|we do not tolerate|will not be tolerated|isnt (?:ok|okay|acceptable|funny)|"
    r"arent (?:ok|okay|acceptable|funny)|(?:dont|do not|never) (?:say|write|post|send) (?:things )?like|"
    r"if (?:someone|anyone|somebody) (?:says|threatens|messages|writes|sends)|what to do if|report (?:it|them|this|any)|"
    r"(?:examples?|phrases?|words) (?:like|such as)|online safety|e ?safety|in the (?:play|novel|book|film|poem|story)|"
    r"macbeth|hamlet|romeo|juliet|othello|the witches|the character|the narrator|lyrics?|song (?:goes|says)|"
    r"quote|quoting|the line|for example|eg|e g|such as saying|"
    # reported belief or news: "his belief that all ... should be murdered"
    r"(?:his|her|their|the) (?:belief|beliefs|view|views|ideology|claim|argument)|believes? that|believed that|"
    r"claims? that|claimed that|argues? that|argued that|preached|preaching|calls? for|called for|reportedly|"
    r"according to|allegedly)\b")
# A negation inside the match or just before it: "i would never hurt you", "no one deserves to die".
_NEGATED = re.compile(
    r"\b(?:never|not|dont|do not|wont|will not|wouldnt|would not|cant|cannot|couldnt|didnt|shouldnt|should not|"
    r"mustnt|no one|nobody|noone|doesnt|does not|nor|no)\b")
# Games and idioms anywhere in the sentence, for the verbs a game uses.
_GAME = re.compile(
    r"\b(?:fortnite|fifa|cod|call of duty|warzone|minecraft|roblox|apex|valorant|among us|chess|mario kart|lobby|"
    r"1v1|1 v 1|ps5|ps4|xbox|switch|controller|server|respawn|noob|gg|pvp|squad|ranked|game|games|gaming|"
    r"tournament|match|quiz|karaoke|dodgeball|paintball|laser tag|nerf|water fight|snowball|pillow fight|zombies?|"
    # sport: "were going to batter them in the derby"
    r"team|teams|league|final|finals|semis?|semi final|derby|cup|fixture|season|relay|sports day|race|opponents|"
    r"pitch|goals?|points|score|trophy|playoffs?|champions|netball|football|footy|rugby|hockey|cricket|basketball|"
    r"tennis|badminton|volleyball|rounders|the ref|kick ?off|athletics|tug of war|spelling bee|debate|competition|"
    r"contest|bake off|scrim)\b")
_GAME_VERBS = re.compile(r"\b(?:knock|kill|shoot|destroy|beat|smash|murder|wreck|end|rekt|get|jump|hit|attack|batter|thrash|"
                         r"hammer|crush|annihilate|slaughter|obliterate|demolish|bury|bash|whoop|merk|bodied)\w*\b")
_IDIOM = re.compile(
    r"\b(?:hurt (?:my|your|ur|his|her|their) feelings|kill(?:ing)? (?:the|a|this|that) (?:process|task|app|program|"
    r"lights?|engine|bill|mood|vibe|time|conversation|joke)|shoot (?:me|you|u) (?:an?|the) |"
    r"(?:mum|mom|mam|dad|parents|teacher|sir|miss|nan|gran|boss)\b.{0,30}\b(?:kill|murder) (?:me|us|you)\b"
    r"(?!.{0,20}\bif (?:i|you|u) (?:tell|told|say|said))|"
    r"(?:dying|died|dead|die) (?:of|from|laughing|with laughter)|(?:beat|beating|smash|smashing|smashed) (?:my|your|ur|his|her|"
    r"the|our|their|every|all|all the|all our) (?:own |school |\w+ )?(?:records?|scores?|times?|high scores?|highscores?|pbs?|"
    r"personal bests?|targets?)|kill(?:ing)? (?:some )?time|"
    r"(?:smash|smashed|smashing|ace|nail|kill|killed|killing|destroy|destroyed) (?:this|the|that|my|it|your|in the) "
    r"(?:test|exam|exams|quiz|interview|audition|presentation|performance|essay|assignment|mock|mocks|gcse|gcses)|killing (?:it|me)|killed it|"
    r"to die for|kill for (?:a|some|one)|kill(?:ing)? two birds|gas (?:prices|bills?|meters?|supply|station|mark|"
    r"leaks?|cooker|hob|fire|and electric)|shoot(?:ing)? for (?:the|a|it|gold)|(?:burn|burns|rot|rots) in hell|get shot of|got shot of|getting shot of|hang(?:ing)? out|dead to me|kill(?:ing)? (?:\w+ )?with kindness|kill to (?:have|be|get|see|go|look)|(?:beat|beats|beating) (?:me|you|him|her|them|us) (?:to it|at)|"
    r"hit (?:me|you|u|him|her|them) up|(?:give|gives) (?:me|you) a (?:lift|hand)|get (?:you|u|him|her|them) (?:a|an|some|one|the)\b|"
    r"(?:kill|murder) (?:me|us) (?:now|lol|haha|pls|please)|(?:killed|kill|murder|murdered) me (?:lol|haha|xd|omg)|"
    # "you cant beat city hall", "nothing beats a cup of tea": beating as outdoing, not hitting
    r"(?:cant|cannot|can not|couldnt|hard to|impossible to|tough to|nothing|nothing can|nothing will) (?:ever )?"
    r"(?:beats?|fight) (?:city hall|the system|the odds|the house|the market|the clock|nature|progress|a good|an? |the "
    r"(?:original|classics?|price|view|feeling|taste|smell))|"
    r"(?:cant|cannot|can not) beat (?:that|this|it)\b)")
# The author of a thing as the target (seventh pass): "i'm going to strangle whoever broke the
# nightly build", "we should shoot the guy who designed this API" - exasperation at work done,
# from mailing-list chatter. Only makers of code, designs and builds: "whoever told miss", "the
# boy who hit my brother" are people a pupil may mean.
_AUTHOR = re.compile(
    r"\b(?:whoever|anyone who|the (?:\w+ )?(?:guy|guys|person|people|idiot|idiots|moron|morons|genius|geniuses|clown|"
    r"clowns|muppet|muppets|bozo|bozos|dev|devs|developer|developers|engineer|engineers|programmer|programmers|coder|"
    r"team|folks|committee|marketing droid|manager) (?:who|that)) (?:\w+ )?(?:designed|designs|coded|invented|"
    r"came up with|thought up|programmed|specced|implemented|configured|approved|decided on|"
    r"(?:wrote|writes|broke|broken|busted) (?:the|this|our|my|that) (?:\w+ )?(?:build|code|tree|server|site|script|patch|"
    r"release|api|makefile|kernel|config|repo|repository|tests?|installer|package|compile|mirror|link|page|cvs|svn|"
    r"trunk|spec|program|software|driver|module|function|library|docs|documentation|manual|standard|rfc|parser|regex|"
    r"rules?|filter|daemon|plugin|protocol|interface|ui|gui|wizard))\b")
# Spam, as the anti-spam lists curse it ("spammers should be shot", "die, spammers"): the group is
# what their mail does, a mailing-list hyperbole (seventh pass); no threat form reads it either.
_SPAMMERS = re.compile(r"\b(?:spammers?|spamm?ing scum|telemarketers?|junk mailers?|spambots?)\b")
# Things, not people, as the subject of "should be killed" ("the process should be killed").
_THINGS = re.compile(
    r"\b(?:process(?:es)?|threads?|jobs?|tasks?|daemons?|servers?|programs?|apps?|query|queries|connections?|"
    r"sessions?|bugs?|code|scripts?|commands?|scenes?|photos?|plants?|weeds?|bacteria|germs?|virus(?:es)?|"
    r"flags?|files?|requests?|lights?|engines?|zombies?|monsters?|enemies|aliens|bosses|characters|mobs?|npcs?|"
    r"pests?|rats|mice|wasps?|flies|slugs|hoops|baskets|decorations|bunting|banners|posters|lanterns|washing|"
    r"clothes|coats|paintings|artwork|displays|eggs|egg whites|yolks|sugar|flour|butter|mixture|whisk|bowl|"
    r"recipe|dough|cream|sauce|onions|garlic|potatoes|fish|chips|pasta|pesto|rice|noodles|salad|steak|burgers?|"
    r"sausages?|bacon|toast|pizza|cake|chocolate|veg|vegetables|carrots|cheese|gravy|ketchup|vinegar|chickens?|hens|pigs|livestock|lambs?|turkeys?|cows|"
    r"sheep|deer|foxes|badgers|squirrels|pigeons|seagulls|goals|levels|waves|rounds|portraits?|pictures?|weddings?|footage|digital|film|videos?|dogs?|cats?|horses?|animals?|cattle|trees?|crops?)\b")

# Spellings that hide a word from the patterns: "k1ll", "st4b", "r*pe", and the knife and gun emoji.
_LEET = str.maketrans("013457@$!|", "oieastasii")
_HIDDEN_WORDS = ("kill", "stab", "rape", "shoot", "murder", "hurt", "die", "dead", "punch", "knife", "shank", "bomb",
                 "hang", "beat", "batter", "slit", "choke", "merk", "gas", "burn", "bleed", "suffer")
_HIDDEN = re.compile(r"(?<![\w@$!*|])(?=[\w@$!*|]*[a-z])[\w@$!*|]*[0-9@$!*|][\w@$!*|]*")
_EMOJI = {"\U0001F52A": " knife ", "\U0001F5E1": " knife ", "\U0001F52B": " gun ", "\U0001F4A3": " bomb "}


_SPACES = re.compile(r"  +")


# What each hiding character may stand for: "ki11" is "kill", "d!e" is "die".
_LEET_CLASS = {"0": "o", "1": "[il]", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "[il]",
               "|": "[il]", "*": "[a-z]"}


def _reveal(word: re.Match) -> str:
    return _revealed(word.group())


# Pure in the spelling, and the same spellings ("3pm", "2026") recur in every message: a
# bounded memo instead of compiling a pattern per token per call (~11% of the risk filter).
@functools.lru_cache(maxsize=4096)
def _revealed(text: str) -> str:
    """The violent word a spelling hides, or the spelling as written ("1v1", "gr8" stay); a
    masked word that hides none keeps its letters with x for the mask ("f*gs" -> "fxgs"), so
    a pattern reads it as a word."""
    pattern = re.compile("".join(_LEET_CLASS.get(c, re.escape(c)) for c in text))
    for hidden in _HIDDEN_WORDS:
        for form in (hidden, hidden + "s", hidden + "ed", hidden + "ing", hidden + "d"):
            if len(form) == len(text) and pattern.fullmatch(form):
                return form
    return text.replace("*", "x") if text.strip("*") else text


# Violent words spelled out ("k i l l", "k.i.l.l") or stretched ("kiill", "hurrt": prepare()
# leaves two of a repeated letter): written back as the word.
_SPACED = re.compile(r"(?<![\w.*-])[a-z](?:[ ._*-][a-z]){2,}(?![\w*-]|\.\w)")
_STRETCHED = re.compile(r"\b(?:" + "|".join("".join(c + "+" for c in word) for word in _HIDDEN_WORDS)
                        + r")(?:s|es|ed|ing|d)?\b")


# Other wordings of the writer's (or the writer's side's) intent, written as the one _INTENT
# knows before the patterns read the sentence: one substitution, where adding them to _INTENT
# (inlined in most patterns) made every pattern dearer.
_INTENT_FORMS = re.compile(
    r"\b(?:we r|we|were all|we are all|us lot are|us lot r|me and (?:my |the )?\w+ (?:are|r)|"
    r"my (?:mates|friends|boys|brothers|cousins|brother|cousin) and i (?:are|r)) (?:gonna|gunna)\b"
    r"|\b(?:we r|we|were all|we are all|us lot are|us lot r|me and (?:my |the )?\w+ (?:are|r)|"
    r"my (?:mates|friends|boys|brothers|cousins|brother|cousin) and i (?:are|r)) going to\b"
    r"|\b(?:we will all|well all|us lot will|me and (?:my |the )?\w+ will|my (?:mates|friends|boys|brothers|cousins|"
    r"brother|cousin) and i will)\b"
    r"|\bi (?:cant|cannot|can not) wait to\b|\bi intend to\b|\bi (?:will|shall) personally\b|\bill personally\b"
    r"|\b(?:im|i am) (?:ready|prepared|willing|determined) to\b")


_INTENT_HINTS = ("we ", "were all", "us lot", "me and", "and i ", "wait to", "intend to", "personally", "well all",
                 "ready to", "prepared to", "willing to", "determined to")


def _intent_form(match: re.Match) -> str:
    words = match.group()
    if words.endswith("gonna") or words.endswith("gunna"):
        return "were gonna"
    if words.endswith("going to"):
        return "were going to"
    if " will" in words or words.startswith("well"):
        return "we will"
    return "i want to" if "wait" in words or "intend" in words or words.endswith(" to") else "i will"


# A letter the violent words have once, doubled: what a stretched spelling leaves after prepare().
_STRETCH_HINTS = ("ii", "aa", "uu", "hh", "kk", "yy", "urr", "abb", "add", "iee", "eea", "unn", "nkk", "ungg")


def _squeeze(word: str) -> str:
    return re.sub(r"(\w)\1+", r"\1", word)


def _forms(word: str) -> tuple[str, ...]:
    return (word, word + "s", word + "es", word + "ed", word + "d", word + "ing", word + word[-1] + "ed",
            word + word[-1] + "ing")


_WRITTEN = frozenset(form for hidden in _HIDDEN_WORDS for form in _forms(hidden))  # "stabbed", "gassed": as written
_SQUEEZED: dict[str, str] = {}
for _hidden in _HIDDEN_WORDS:
    for _form in _forms(_hidden):
        _SQUEEZED.setdefault(_squeeze(_form), _form)  # the plainest form first: "bleed", not "bleedd"


def _unspace(match: re.Match) -> str:
    joined = re.sub(r"[ ._*-]", "", match.group())
    return _SQUEEZED.get(_squeeze(joined), match.group())


def _unstretch(match: re.Match) -> str:
    word = match.group()
    return word if word in _WRITTEN else _SQUEEZED.get(_squeeze(word), word)


def readable(prepared: str) -> str:
    """Prepared text with hidden spellings of violent words and weapon emoji written out."""
    for emoji, word in _EMOJI.items():
        if emoji in prepared:
            prepared = _SPACES.sub(" ", prepared.replace(emoji, word)).strip()
    if any(c in prepared for c in "0134579@$!*|"):
        prepared = _HIDDEN.sub(_reveal, prepared)
    if _SPACED.search(prepared):
        prepared = _SPACED.sub(_unspace, prepared)
    if any(hint in prepared for hint in _INTENT_HINTS):
        prepared = _INTENT_FORMS.sub(_intent_form, prepared)
    if any(pair in prepared for pair in _STRETCH_HINTS):  # cheap first: most text stretches nothing
        prepared = _STRETCHED.sub(_unstretch, prepared)
    return prepared


@dataclass(frozen=True, slots=True)
class Threat:
    """A threat found in one prepared sentence: its kind and the words that made it."""

    kind: str  # direct | conditional | group | weapon | disclosure
    words: str


_UNWELL = re.compile(r"\b(?:mentally|physically|very|so|really|feel|feeling|felt|been|was|is|got|fall|falls|fell|"
                     r"being|seriously|terminally|make (?:me|you|them|him|her)|makes? \w+) $")
# Real-world words that keep a threat a threat even beside a game word.
_REAL = re.compile(r"\b(?:stab|knife|shank|after school|outside|irl|in real life|at school|your house|car park|"
                   r"in the street)")
# Photography: "shoot the year 11s for the yearbook".
_PHOTO = re.compile(r"\b(?:yearbook|photos?|photographs?|photographers?|photography|pics|pictures|camera|lens|portraits?|"
                    r"headshots|photo ?shoot|the shoot|footage|film|filming|video|scenes?|selfies?|tripod|studio)\b")
# Someone else's words or beliefs reported before a group threat or a "should be": "saying ... is
# disgusting", "people who say ...", "he was suspended for saying ...", "hitler believed ...". The
# writer's own ("i say we ...", "i think ... should be") is not reported speech.
_SPEECH = re.compile(
    r"\b(?:say|says|said|saying|post|posts|posted|posting|tweet|tweets|tweeted|tweeting|wrote|write|writes|writing|"
    r"shout|shouts|shouted|shouting|chant|chants|chanted|chanting|yell|yelled|yelling|scream|screamed|screaming|"
    r"claim|claims|claimed|claiming|believe|believes|believed|believing|think|thinks|thought|suggest|suggests|"
    r"suggested|suggesting|argue|argues|argued|arguing|preach|preached|preaching|comment|commented|joke|joked|"
    r"joking|message|messaged|reply|replied|spray ?painted|graffiti|hear|heard|insist|insisted|wanted|ordered|"
    # a speaker's words in the news: "the minister vowed to hunt them down and kill them"
    r"vow|vows|vowed|vowing|pledge|pledged|pledges|promised|promises|warned|warns|declared|declares|announced|"
    r"stated|added|told (?:reporters|the|a|an|his|her|their|parliament|mps|congress|supporters|crowds?)|"
    r"quoted|speech|statement|address)\b")
_WRITER = re.compile(r"\b(?:(?:i|we|id|wed|ive|weve) (?:\w+ )?|regret )$")  # "youll regret saying that" is no report
_QUOTED = re.compile(r'"[^"]+"')

# Forms the patterns above miss, written from the project's own fixtures (tests/filters/test_threats.py
# GROUP_FORMS, SCHOOL_FORMS): a group made to bleed or hunted down, a death a group "deserves" in
# other words, the reader's group told it will die, veiled threats about what is coming.
def _word_trie(words: list[str]) -> str:
    """An alternation of words grouped by first letter: Python's re then tries one branch per
    position, not every word (the group nouns start most of the group patterns below)."""
    firsts: dict[str, list[str]] = {}
    for word in sorted(set(words), key=len, reverse=True):
        firsts.setdefault(word[0], []).append(re.escape(word[1:]).replace("\\ ", " "))
    return "(?:" + "|".join(f"{first}(?:{'|'.join(rest)})" for first, rest in firsts.items()) + ")"


_GROUP_NOUN = _word_trie(_IDENTITY[3:-1].split("|") + [
    "men", "women", "people", "folk", "kids", "children", "babies", "girls", "boys", "lads", "cops", "police",
    "politicians"])
_ONE_NOUN = _word_trie(_IDENTITY_ONE.split(")|", 1)[1][:-1].split("|") + [
    "person", "man", "woman", "girl", "boy", "kid", "child", "lad", "guy"])
_GROUP_SUBJECT = rf"(?:{_GROUP_NOUN}|(?:all|the|those|these) (?:\w+ ){{0,2}}?{_GROUP_NOUN})"
_GROUP_ONE = rf"(?:any|every|each|a|an|the next|the first|that|this|one) (?:\w+ ){{0,2}}?{_ONE_NOUN}"
_GROUP_ANY = (rf"(?:(?:all |every |each |any |the next |those |these |the |some )?(?:of the |of them |fucking |dirty |"
              rf"filthy )?(?:\w+ ){{0,2}}?{_GROUP_NOUN}|{_GROUP_ONE})")
# Verbs that threaten a group (never only a person: "ill destroy you" is a game's): "i want to harm
# gay people", "we should get rid of muslims", "women should be attacked".
_GROUP_HARM = (r"(?:harm|hurt|attack|assault|injure|wound|cripple|maim|beat|beat up|punch|slap|kick|torture|destroy|"
               r"eliminate|get rid of|execute|butcher|bury|abuse|hit|exterminate|slaughter|massacre|mutilate|"
               # "hang" and "drown" as a group's harm, not "hang out with" or "drown out"
               r"hang(?!(?:s|ed|ing)? (?:out|with|around|about|up|on|in|off|together|over|round)\b)|"
               r"drown(?!(?:s|ed|ing)? out\b)|lynch|strangle|poison|cut up|chop up|string up|"
               r"(?:break|smash|crack|snap|cave in|bash in|kick in|slit|cut) the (?:bones|legs|necks|arms|skulls?|heads?|"
               r"faces|throats?|teeth|jaws?) of)")
_GROUP_PASSIVE = (r"(?:harmed|hurt|attacked|assaulted|punched|slapped|kicked|beaten up|injured|wounded|crippled|maimed|"
                  r"abused|hit|destroyed|eliminated|got rid of|gotten rid of|buried|exterminated|mutilated|tortured|"
                  r"butchered|executed|beaten)")
# The group ends its clause: "eliminate the kids screen time" has the group as a noun's owner.
_CLAUSE_ENDS = (r"(?! (?!(?:once|for|forever|now|today|tomorrow|tonight|i|we|and|who|that|in|at|on|like|with|if|when|"
                r"before|after|wherever|everywhere|all|one|first|immediately|right|by|because|so|or|but|from|you|they|"
                r"until|til|till|as|the|this|next|every|any|who|which|out|off|up|down|alive|dead|to|too|asap|lol)\b)[a-z]+)")
_GROUP_EXTRA = re.compile(
    rf"\b(?:{_INTENT}|{_URGE}|id|i would) (?:\w+ ){{0,2}}?{_GROUP_HARM}{_SUFFIX} (?:(?:{_PERSON}) and )?(?:all (?:the )?other |"
    rf"every other |any other )?{_GROUP_ANY}\b{_GAME_AFTER}{_CLAUSE_ENDS}"
    rf"|\b(?:{_GROUP_SUBJECT}|{_GROUP_ONE}) (?:(?:in|at|from|round|around|near|on|of|like) (?:\w+ ){{0,3}}?)?(?:\w+ )?"
    rf"(?:should|must|need to|needs to|ought to|deserve to|deserves to|have to|has to) (?:all |just |really |)(?:be|get) "
    rf"{_GROUP_PASSIVE}\b{_OUTCOME_AFTER}"
    rf"|\b(?:you|all you|all of you|yall) (?:\w+ )?{_HUMAN_GROUP} (?:\w+ ){{0,2}}?(?:will|are going to|are gonna|gonna|"
    rf"shall) (?:all )?be (?:all )?{_GROUP_PASSIVE}\b(?! (?:of|from|when|if|for|to|in the)\b)"
    # "were going to round up all the gays and shoot them", "i will burn down the homes of immigrants"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?round up {_GROUP_ANY} and (?:shoot|kill|gas|hang|burn|execute|drown|"
    rf"stab|beat|torture|murder)\b"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?(?:burn down|set fire to|torch|firebomb|petrol bomb|bomb|smash up|attack)"
    rf" (?:the |their )?(?:homes?|houses?|shops?|businesses|mosques?|churches|synagogues?|clubs?|bars?) of {_GROUP_ANY}\b"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?(?:set fire to|set alight|pour petrol on|throw acid (?:on|at|in the faces? of))"
    rf" {_GROUP_ANY}\b"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?put (?:a )?(?:bullet|bullets|knife|blade|knives) (?:in|into|through) "
    rf"(?:every|each|all|any|those|these|the) (?:\w+ )?(?:{_HUMAN_GROUP}|{_IDENTITY_ONE})s? ?(?:head|heads|skull|skulls|chest|"
    rf"back|face|faces|brain|brains|neck|necks)?\b"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?make sure {_GROUP_ANY} (?:are|is|get|gets) (?:all )?(?:wiped out|killed|dead|"
    rf"exterminated|gassed|shot|hanged|eliminated|eradicated)\b"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?(?:beat|kick|knock|smash|batter|punch) (?:the )?(?:crap|shit|hell|"
    rf"living daylights|life|snot|shite) (?:out of|outta) {_GROUP_ANY}\b"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?{_STRONG}{_SUFFIX} (?:the )?{_NAMED_GROUP}\b{_GAME_AFTER}"
    rf"|\b{_GROUP_ONE} (?:\w+ )?(?:should|must|needs to|deserves to|ought to) (?:just |really |)(?:be|get) {_OUTCOME}\b"
    rf"(?:(?= for (?:existing|being|breathing|living|looking|walking))|{_OUTCOME_AFTER})"
    rf"|(?:^|[!.,:;] *)\W*(?:kill|shoot|hang|gas|burn|stab|murder|rape|bomb|lynch|beat up|attack) {_GROUP_ANY} "
    rf"(?:on sight|you see|in sight|wherever you find them|when you see them)\b"
    # "i will make muslims bleed", "were going to hunt down every immigrant", "ill slaughter them like animals"
    rf"|\b{_INTENT} (?:\w+ ){{0,2}}?make (?:all |every |those |these |the )?(?:\w+ )?{_HUMAN_GROUP} (?:like (?:you|u|them|him|her) )?(?:pay|suffer|bleed|beg|"
    rf"scream)\b(?! for (?:the|a|their|it|tickets)\b)"
    rf"|\b{_INTENT} (?:\w+ ){{0,2}}?hunt (?:down )?(?:all |every |each |any |those |these |the )?(?:\w+ )?"
    rf"(?:{_HUMAN_GROUP}|{_IDENTITY_ONE})(?: down)?\b"
    # "muslims should be lined up against a wall and shot", "... thrown off buildings", "... stoned"
    rf"|\b{_GROUP_SUBJECT} (?:(?:in|at|from|round|around|near|on|of|like) (?:\w+ ){{0,3}}?)?(?:\w+ )?(?:should|must|need to|"
    rf"needs to|ought to|deserve to|have to) (?:all |just |really |)(?:be|get) (?:lined up (?:against a wall )?and shot|(?:put|stood|lined) (?:up )?against (?:a|the) wall and shot|"
    rf"taken out(?:side)? and shot|"
    rf"thrown off (?:a |the )?(?:buildings?|roofs?|cliffs?|bridges?)|stoned|put to death|made to suffer|beaten|"
    rf"burned|burnt|hunted|hunted down|tortured|killed|shot|hanged|hung|gassed|exterminated|wiped out|executed|"
    rf"slaughtered|murdered|stabbed|raped|lynched|drowned|set on fire|eradicated|eliminated)\b{_OUTCOME_AFTER}"
    rf"|\b{_GROUP_SUBJECT} (?:(?:\w+ ){{0,2}}?)(?:should|must|need to|deserve to|ought to) have their (?:throats|heads|"
    rf"necks|hands|legs|faces) (?:cut|slit|slashed|chopped off|cut off|broken|snapped|smashed in|kicked in|blown off)\b"
    rf"|\b{_GROUP_SUBJECT} (?:all )?belong (?:in (?:a |the )?(?:graves?|ground|coffins?|gas chambers?|ovens?|body bags?)|"
    rf"six feet under|dead)\b"
    rf"|\b{_GROUP_SUBJECT} (?:\w+ )?(?:are|r) (?:all )?better off dead\b"
    rf"|\b(?:killing|shooting|hanging|gassing|lynching|murdering|stabbing|beating up|exterminating) (?:all |the |more |"
    rf"those |these )?(?:\w+ )?{_HUMAN_GROUP} (?:should be|ought to be|must be|would be|is) (?:legal|allowed|"
    rf"encouraged|rewarded|fine|ok|okay|great|acceptable|the right thing|a public service|no crime|not a crime)\b"
    rf"|\b(?:the world|this country|the country|britain|england|our country|everyone|we) would be (?:a )?(?:so much |much |"
    rf"far )?better (?:off |place )?(?:if|when) (?:all |the )?(?:\w+ )?{_HUMAN_GROUP} (?:were|was|are) (?:all )?(?:dead|killed|"
    rf"wiped out|exterminated|gassed|shot|hanged|gone for good)\b"
    rf"|\b(?:would be (?:great|good|nice|amazing|brilliant)|be (?:great|good|nice)|i wish|i hope|wish|hope|"
    rf"(?:its|it is|it s) (?:about |high )?time) (?:if |that )?"
    rf"(?:someone|somebody|some1) (?:would |will |could )?(?:killed|kill|killed off|shot|shoot|murdered|murder|gassed|gas|"
    rf"hanged|hang|slaughtered|slaughter|wiped out|wipe out|exterminated|exterminate|bombed|bomb|burned|burn)s? "
    rf"(?:all |every |the |those |these )?(?:\w+ )?{_HUMAN_GROUP}\b"
    # the reader's group told it will die: "you muslims will be dead soon", "all you gays better watch your backs"
    rf"|\b(?:you|all you|all of you|yall) (?:\w+ )?{_HUMAN_GROUP} (?:\w+ ){{0,2}}?(?:will|are going to|are gonna|gonna|"
    rf"are all going to|will all|are all gonna|shall) (?:all )?(?:be dead|die|burn|pay|suffer|bleed|be killed|be shot|"
    rf"be wiped out|be exterminated|be gassed|be hanged)\b(?! (?:of|from|laughing|when|if|for|to|in the)\b)"
    rf"|\b(?:you|all you|all of you|yall) (?:\w+ )?{_HUMAN_GROUP} (?:had )?(?:better|best|betta) (?:watch (?:your|ur) backs?|"
    rf"start running|start praying|hide|run)\b"
    rf"|\b(?:{_GROUP_SUBJECT}|{_GROUP_ONE}) (?:(?:in|at|from|round|around|near|on|of|like) (?:\w+ ){{0,3}}?)?(?:\w+ )?(?:should|must|need to|"
    rf"needs to|ought to|deserve to|deserves to) (?:all |just |really |)(?:be|get) (?:beaten|battered|killed|shot|stabbed|"
    rf"hanged|burned|tortured)(?= for (?:existing|being|breathing|living|looking|walking))")

# A death a group deserves, worded with a negation that is the threat ("trans people dont deserve
# to live"): the negation veto does not apply to these, as to the veiled threats.
_GROUP_DENIED = re.compile(
    rf"\b{_GROUP_SUBJECT} (?:\w+ )?(?:dont|do not|does not|doesnt) deserve to (?:live|exist|breathe)\b"
    rf"|\b{_GROUP_SUBJECT} (?:\w+ )?(?:have|has) no right to (?:live|exist|breathe)\b"
    rf"|\b{_GROUP_SUBJECT} (?:\w+ )?(?:should not|shouldnt|must not) be allowed to (?:live|exist|breathe)\b"
    rf"|\b{_GROUP_SUBJECT} (?:wont|will not|arent going to) (?:live|survive|be alive|be breathing) (?:much |for )?(?:long|longer|"
    rf"to see)\b")

_DIRECT_EXTRA = re.compile(
    rf"\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,3}}?(?:harm|assault|injure|wound|cripple|execute|butcher|slaughter|massacre|"
    rf"exterminate){_SUFFIX} (?:\w+ )?{_TARGET}\b{_GAME_AFTER}"
    # orders to kill: "shoot to kill", "throw them off a building", "he needs impaling"
    rf"|(?<![a-z] )\bshoot (?:to kill|on sight|them on sight|(?:anyone|everyone|any of them) (?:who|that|on sight))\b"
    rf"|\bthrow (?:them|em|him|her|their (?:asses|arses)|his (?:ass|arse)|her (?:ass|arse)) off (?:a |the )?(?:\w+ )?"
    rf"(?:building|roof|bridge|cliff|tower)\b"
    rf"|\b(?:needs?|deserves?) (?:impaling|lynching|a lynching|stringing up)\b"
    rf"(?! (?:up|out|practice|lesson|range|star|competition|pain|pains|sensation|baskets?|on the wall)\b)")

# A group named as the subject of its coming death: "gay people", "muslims", "all the ..." - not
# "people will die" or "more people will be shot" (a warning about a law, not a threat).
_FUTURE_SUBJECT = rf"(?:{_NAMED_GROUP}|(?:all|those|these) (?:\w+ ){{0,2}}?{_GROUP_NOUN})"
# More of them: a group's coming death in the future tense, "taken out" or "dealt with", the
# writer enjoying it, the death penalty, genocide and "open season" (written from the fixtures).
_GROUP_FUTURE = re.compile(
    rf"\b{_FUTURE_SUBJECT} (?:\w+ )?{_WILL_BE_KILLED}|\b{_FUTURE_SUBJECT} (?:\w+ )?{_WILL_SUFFER}"
    rf"|\b{_FUTURE_SUBJECT} (?:will|are going to|are gonna|shall) (?:all )?(?:hang|swing|be hanging|rot|be dealt with)\b"
    rf"(?! (?:out|around|round|about|on|up|in there|with)\b)"
    rf"|\b(?:soon|one day|someday|some day|before long) (?:all )?(?:the )?(?:\w+ )?{_HUMAN_GROUP} (?:will|are going to) (?:all )?"
    rf"(?:be (?:dead|gone|killed|shot|hanged|gassed|wiped out|exterminated)|die|burn|hang)\b"
    rf"|\bmatter of time (?:before|until|till) (?:all )?(?:the )?(?:\w+ )?{_HUMAN_GROUP} (?:are|get|will be|start getting) "
    rf"(?:all )?(?:killed|shot|hanged|gassed|wiped out|exterminated|slaughtered|dead|lynched|butchered)\b"
    rf"|\b{_GROUP_SUBJECT} (?:will|are going to|are gonna) get (?:whats|what is|what s) coming(?: to them)?\b"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?take out {_GROUP_ANY}\b{_CLAUSE_ENDS}"
    rf"|\b{_GROUP_SUBJECT} (?:\w+ )?(?:need to|needs to|should|must|ought to|have to) be (?:taken out|dealt with (?:permanently|"
    rf"once and for all|for good|the old fashioned way|with bullets|with a rope)|sentenced to death|punished by death|"
    rf"given the death penalty)\b"
    rf"|\b{_GROUP_SUBJECT} (?:\w+ )?(?:should|must|need to|ought to|deserve to) (?:get|receive|face) the death penalty\b"
    rf"|\b(?:{_WISHER}|ill|i will|id happily|i would happily) (?:\w+ )?(?:enjoy|love|like|happily|gladly) (?:watching|seeing|"
    rf"watch|see) {_GROUP_ANY} (?:all )?(?:die|dying|burn|burning|suffer|suffering|bleed|bleeding|hang|hanging|dead|killed|"
    rf"shot|gassed|slaughtered)\b"
    rf"|\bnothing would make me (?:happier|happy|more happy) than (?:seeing|watching|killing|hearing about) {_GROUP_ANY}"
    rf"(?: (?:dead|die|dying|burn|suffer|killed|shot|gassed))?\b"
    rf"|\bopen season (?:on|for) {_GROUP_ANY}\b"
    rf"|\b(?:lets|let us|we should|time to) go (?:\w+ )?{_HUMAN_GROUP} (?:hunting|bashing|killing|shooting)\b"
    rf"|\bgenocide (?:is|would be) the (?:answer|solution|only way|only answer) (?:for|to) (?:all |the )?(?:\w+ )?{_HUMAN_GROUP}\b"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?commit (?:a )?genocide (?:against|on) \w+"
    rf"|\b(?:hanging|death|shooting|a bullet|the gallows|the noose) (?:is|would be|are) too good for (?:all |the |those |these )?"
    rf"(?:\w+ )?{_HUMAN_GROUP}\b"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?wipe {_GROUP_ANY} (?:off the (?:face of the )?(?:map|earth|planet)|out)\b"
    rf"|\brun red with (?:the )?blood of (?:all |the )?(?:\w+ )?{_HUMAN_GROUP}\b"
    rf"|\bput (?:all |every |the |those |these )?(?:\w+ )?{_HUMAN_GROUP} in (?:camps|a camp|the camps|ovens|gas chambers)"
    rf"(?: and (?:gas|kill|burn|shoot) them)?\b")

# Violence against a group stated as a norm: what would be best, right or fine to do to them
# ("it would be best to just drown those kinds of ...", "the only solution is to exterminate ...",
# "executing ... is the right thing to do", "we'd all be better off if ... were shot"), written
# from the project's own fixtures (tests/filters/test_threat_norms.py). Each needs a group of
# people as the target: "it would be best to kill time" names none.
_NORM_VERB = (r"(?:kill|murder|shoot|stab|drown|strangle|gas|burn|lynch|execute|exterminate|slaughter|massacre|"
              # bare "beat" and "kick" are a match's ("it would be best to beat the boys"); "get rid
              # of" and "put down" are as often about old desks and insults
              r"torture|beat up|hurt|harm|attack|assault|rape|wipe out|eliminate|eradicate|"
              r"punch|poison|behead|bomb|hang(?! (?:out|with|around|about|up|on|in|off|together|over|round)\b)|string up|round up and shoot|cull|shoot dead|burn alive|"
              r"beat to death|stone)")
_NORM_GOOD = (r"(?:best|better|good|great|a good idea|a great idea|right|fine|ok|okay|alright|acceptable|justified|"
              r"for the best|ideal|wise|sensible|smart|the right thing|the best thing|our duty|a duty|necessary|"
              r"legal|moral|only fair|fair|fun|a pleasure|a public service|a service to (?:humanity|society|the world)|"
              r"a kindness|merciful|kinder|easier|simpler|safer|cheaper|(?:the )?(?:only |best |real |final )?"
              r"(?:answer|solution|way|option|cure|remedy|thing to do))")
# "those kinds of ...": a group named by its kind
_NORM_GROUP = rf"(?:(?:those|these|the|all|any|some) (?:kinds?|sorts?|types?) of )?{_GROUP_ANY}"
_NORM_FOR = r"(?: for (?:everyone|everybody|us all|us|society|the world|the country|all of us|humanity|them))?"
_NORM_GERUND = (r"(?:killing|murdering|shooting|stabbing|drowning|strangling|gassing|burning|lynching|executing|"
                r"exterminating|slaughtering|massacring|torturing|beating up|hurting|harming|attacking|"
                r"assaulting|raping|getting rid of|wiping out|eliminating|eradicating|putting down|punching|"
                r"poisoning|beheading|bombing|hanging|stringing up|culling|stoning)")
_NORM_DEAD = (r"(?:dead|gone|killed|shot|hanged|hung|gassed|drowned|exterminated|wiped out|executed|murdered|"
              r"slaughtered|strangled|burned|burnt|lynched|put down|eliminated|eradicated|six feet under|"
              r"in (?:the ground|graves?|coffins?|body bags))")
_GROUP_NORM = re.compile(
    # one group copy for every lead that ends in a verb and its target: RE2's prefilter set
    # (filters/text/matcher.py) must stay within its memory, and each copy of the group nouns is big
    rf"\b(?:(?:it would be|itd be|it will be|it is|its|it s|would be|wouldnt it be|it might be) (?:so |much |far |"
    rf"really |just |definitely |probably |actually |honestly |only |totally |perfectly |completely |absolutely |"
    rf"entirely |morally )?{_NORM_GOOD}{_NORM_FOR} to"
    rf"|(?:the )?(?:best|right|only|smart|sensible|correct|obvious|proper|kindest|fairest|easiest|simplest|"
    rf"real|final|one|ideal) (?:thing|solution|answer|option|way|course of action|choice|idea|policy|cure|remedy|"
    rf"treatment|response|punishment|fix|thing to do)(?: to do)?(?: (?:for|with|about) (?:them|these|those|it|this))?"
    rf" (?:is|would be|will be|is to|would be to|are)(?: to)?"
    rf"|(?:it )?should be (?:legal|allowed|acceptable|ok|okay|mandatory|compulsory|encouraged|permitted|normal|"
    rf"a sport) to"
    rf"|(?:we|everyone|people|you) (?:should be|are|is|must be) (?:allowed|free|encouraged|expected|obliged) to"
    rf"|(?:the )?(?:country|government|state|police|army|law|society|people|someone|somebody|they|we|you) (?:really )?"
    rf"(?:should|must|needs? to|ought to|has to|have to|could))"
    rf" (?:just |simply |finally |all |really |quietly |slowly |to )?{_NORM_VERB}{_SUFFIX} {_NORM_GROUP}\b{_CLAUSE_ENDS}"
    # the writer for it: "i fully support hanging ...", "im all for shooting ..."
    rf"|\b(?:i (?:\w+ )?(?:support|back|endorse|approve of|vote for)|(?:im|i am) (?:\w+ )?(?:all for|in favour of|in favor of|"
    rf"up for)) {_NORM_GERUND} {_GROUP_ANY}\b{_CLAUSE_ENDS}"
    rf"|\b{_NORM_GERUND} {_NORM_GROUP} (?:is|would be|will be|remains|seems|sounds) (?:\w+ )?(?:the )?{_NORM_GOOD}\b"
    rf"(?! (?:at|for (?:a|the|your|my|business|nothing)|of|in (?:the|a) (?:game|film|book|play))\b)"
    rf"|\b(?:we|wed|we all|wed all|everyone|everybody|the world|society|this country|the country|britain|england|our country|"
    rf"things|life|it) (?:would|will|d|wd)? ?(?:all )?be (?:a )?(?:so much |much |far |a lot |way )?(?:better|best|"
    rf"safer|nicer|happier)(?: off| place)?{_NORM_FOR} (?:if|when|once) {_GROUP_ANY} (?:were|was|are|got|get|had been|"
    rf"all got|were all) (?:all )?{_NORM_DEAD}\b{_OUTCOME_AFTER}"
    # the cure for or the place of a group: "the only cure for ... is a bullet", "the best place for ... is a coffin"
    rf"|\bthe (?:only |best |real |one |right |proper )?(?:cure|answer|solution|treatment|medicine|fix|remedy|place)"
    rf" (?:for|to) {_NORM_GROUP} (?:is|would be|will be) (?:in )?(?:a |the |more )?(?:bullets?|ropes?|nooses?|"
    rf"gas chambers?|gallows|firing squads?|death|genocide|extermination|mass graves?|ovens?|lynching|hanging|"
    rf"execution|coffins?|graves?|ground|six feet under|body bags?|morgue)\b"
    # an order against one of a group: "shoot every woman", "kill any muslim you see"
    rf"|(?:^|[!.,:;] *)\W*(?:kill|shoot|stab|murder|hang|lynch|strangle|drown|rape|behead) (?:every|each|any)"
    rf" (?:\w+ ){{0,2}}?{_ONE_NOUN}\b{_GAME_AFTER}"
    rf"|\b(?:better|best) (?:off |place )?(?:for (?:\w+ )?)?without {_GROUP_ANY} (?:alive|breathing|living)\b"
    rf"|\b(?:{_INTENT}|{_URGE}) (?:\w+ ){{0,2}}?(?:find|get|catch|grab|follow|track down|hunt down) {_GROUP_ANY}"
    rf" and (?:\w+ )?(?:kill|stab|shoot|hurt|beat|batter|rape|strangle|drown|hang|punch|kick|torture|attack|murder|"
    rf"smash|bash|slit)\w* (?:them|him|her|em)\b")

_VEILED_EXTRA = re.compile(
    r"\b(?:you|u)(?:ll| will)? (?:wont|will not|never|not gonna|aint gonna|are not going to|arent going to) (?:see|make it to|"
    r"live (?:to see|past|through)) (?:next (?:week|year|term|month|monday|friday)|the weekend|another day|tomorrow|"
    r"(?:your|ur) (?:next )?birthday|christmas|the end of the (?:day|week|term|year))\b"
    r"(?! (?:episode|match|game|film|movie|show|trip|concert|because|if|unless|in)\b)"
    r"|\b(?:you|u) (?:have|got|ve got|have got) no idea (?:whats|what is|what s) (?:coming|about to happen|going to happen)"
    r" (?:to|for) (?:you|u)\b"
    r"|\bsomething (?:bad|terrible|horrible|nasty|really bad) (?:is going to|is gonna|will|s going to|gonna|is about to)"
    r" happen to (?:you|u|him|her|your (?:\w+ )?(?:family|mum|mom|sister|brother|dog))\b"
    r"|\b(?:enjoy|make the most of) (?:your|ur) last (?:breath|breaths|moments|(?:day|days|week|night) (?:alive|on earth|"
    r"breathing|while you can))\b"
    r"|\b(?:you|u) (?:should|better|had better|ought to) be (?:very |really )?(?:scared|afraid|terrified) of (?:me|us|what (?:i|we)"
    r"(?:ll| will| am going to| m going to| m gonna| re going to) do)\b"
    r"|\bsay (?:good ?bye|bye) to (?:your|ur) (?:legs|teeth|face|kneecaps|knees|fingers|life|family|pretty face)\b")

_PATTERNS = (("disclosure", _DISCLOSURE), ("weapon", _WEAPON), ("direct", _DIRECT), ("direct", _DIRECT_MORE),
             ("conditional", _CONDITIONAL), ("conditional", _CONDITIONAL_MORE), ("veiled", _VEILED), ("group", _GROUP),
             ("group", _GROUP_MORE), ("group", _GROUP_EXTRA), ("group denied", _GROUP_DENIED),
             ("group", _GROUP_FUTURE), ("group", _GROUP_NORM), ("direct more", _DIRECT_EXTRA), ("veiled more", _VEILED_EXTRA))
# "slaughter them like animals": a simile, not the animals as the subject (_THINGS).
_SIMILE = re.compile(r"\b(?:like|as) (?:the )?(?:\w+ )?(?:animals|dogs|rats|pigs|cattle|vermin|sheep|cockroaches|insects|"
                     r"flies|bugs|pests|mice|lambs|chickens|cows|livestock|the animals they are)\b")
# The kinds someone else's reported words or a quotation make not the writer's, whoever they aim at
# (the newer group and direct kinds too: counter-speech quotes them; a veiled "say goodbye to your
# legs" is its own speech verb), and the kind each newer one is reported as.
_ALWAYS_REPORTABLE = frozenset({"conditional", "group", "group denied", "direct more"})
_REPORTED_AS = {"direct more": "direct"}
# Kinds whose negation is part of the threat, and the kind each is reported as.
_NEGATION_IS_THREAT = {"veiled": "conditional", "veiled more": "conditional", "group denied": "group"}


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a pattern's source."""
    found, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = pattern.index("]", i + 2) + 1
            continue
        depth += c == "("
        depth -= c == ")"
        if c == "|" and depth == 0:
            found.append(pattern[start:i])
            start = i + 1
        i += 1
    return found + [pattern[start:]]


# Most alternatives start with the writer's intent ("ill", "im going to", "we should"): they are
# compiled apart and tried only when a sentence has an intent word (one scan), which halves the
# cost of reading a candidate sentence (bench/threat_cues_quality.py --cost).
_INTENT_GATE = re.compile(rf"\b(?:{_INTENT}|{_URGE}|id|i would|someone|somebody)\b")
_INTENT_LEADS = (rf"\b{_INTENT}", rf"\b(?:{_INTENT}|")




# Alternatives led by a group noun ("muslims should all be ...") are tried only when the sentence
# names a group: trying the noun list at every word is the dearest part of the group patterns.
_GROUP_GATE = re.compile(rf"\b(?:{_GROUP_HEAD}|teachers|the lot of them)\b")
_GROUP_LEADS = tuple(f"{behind}\\b{head}" for behind in ("", "(?<!how )(?<!how many )(?<!many more )")
                     for head in (_GROUP_HEAD, _PEOPLE_HEAD, _IDENTITY))


# The patterns whose every alternative names people (a group noun or one person of a group,
# _GROUP_EXTRA, _GROUP_DENIED) are tried only when the sentence names some: they are the dearest.
_PEOPLE_WORDS = sorted(set(_IDENTITY[3:-1].split("|") + _IDENTITY_ONE.split(")|", 1)[1][:-1].split("|") + [
    "men", "women", "people", "folk", "kids", "children", "babies", "girls", "boys", "lads", "cops", "police",
    "politicians", "person", "man", "woman", "girl", "boy", "kid", "child", "lad", "guy"]))
_PEOPLE_GATE = re.compile(r"\b(?:" + "|".join(
    f"{first}(?:{'|'.join(sorted((w[1:] for w in _PEOPLE_WORDS if w[0] == first), key=len, reverse=True))})"
    for first in sorted({w[0] for w in _PEOPLE_WORDS})) + r")\b")
_NEEDS_PEOPLE = (_GROUP_EXTRA, _GROUP_DENIED, _GROUP_FUTURE, _GROUP_NORM)


def _gated(kind: str, pattern: re.Pattern) -> list[tuple[str, str, re.Pattern]]:
    """The pattern's alternatives by what they need before they are worth trying: the writer's
    intent, a group noun, people named, both, or nothing."""
    groups: dict[str, list[str]] = {}
    people = pattern in _NEEDS_PEOPLE
    for alternative in _alternatives(pattern.pattern):
        needs = "intent" if alternative.startswith(_INTENT_LEADS) else \
            "group" if alternative.startswith(_GROUP_LEADS) and not people else ""
        if people:
            needs = "intent people" if needs else "people"
        groups.setdefault(needs, []).append(alternative)
    return [(kind, needs, re.compile("|".join(group))) for needs, group in groups.items()]


# (kind, the words it needs, compiled pattern): risk.py registers the patterns in the shared
# prefilter database and calls find() only on sentences where one of them may match.
KINDS = tuple(entry for kind, pattern in _PATTERNS for entry in _gated(kind, pattern))


# The words at least one of which every pattern above needs, on the risk model's folded text
# (filters/text/model.model_text: lower case, apostrophes kept, whitespace as written). One scan
# of the whole message finds the few sentences worth preparing and reading; on 5 KB of ordinary
# mail that is most of the cost saved (docs/risk_model.md).
_SPELLED = ("kill", "stab", "shoot", "murder", "rape", "hurt", "dead", "die", "punch", "knife", "shank", "batter")
_WHO = r"(?:you|u|ya|yu|yo|him|her|them|em|yall|all|the\s+lot|every\s*one|each|everyone|me|my)\b"
_ANCHOR_WORDS = (
    # single words (stems): every violent verb, weapon and threat word the patterns use
    "kill stab shoot shot batter punch drown strangl poison murder chok tortur lynch slap deck shank merk knif kniv "
    "slit rape beat knock smash bash hurt attack kick hang hung gas bomb strung extermin wipe slaughter massacre "
    "blade machete gun hammer weapon acid crowbar pistol baseball regret suffer deserve bullet numbered hospital "
    "coffin wheelchair ambulance threat burn jump bodied eradicat eliminat butcher behead smack thump twat whoop "
    "wallop maim mutilat castrat bleed torch firebomb nuke cull shoeing").split() + [
    # common words ("execute", "track", "hunt", "glass", "make sure") only in the company the patterns need
    r"executed\b", r"execut\w*\s+(?:all|every|each|the|those|these|them|him|her|any)\b", r"purg", r"crucif", r"stoned\s+to", r"hunt\w*\s+(?:\w+\s+){0,2}?down", r"track\w*\s+(?:\w+\s+)?down",
    r"slash\w*\s+" + _WHO, r"glass\w*\s+" + _WHO,
    r"hit\s+by", r"make\s+sure\s+(?:you|u|he|she|they|every|all|each|those|these)\b", r"watch\s+yourself", r"sleep\s+with\s+one", r"only\s+good", r"round\s+\w+\s+up",
    r"blow\w*\s+up", r"rot\b", r"six\s+feet", r"good\s+hiding", r"put\s+in\s+(?:a\s+|the\s+)?(?:camps?|ovens?)",
    r"out\s+of\s+(?:town|their\s+home)", r"walking\s+home", r"going\s+home", r"getting\s+home", r"coming\s+home",
    r"making\s+it\s+home", r"make\s+it\s+home", r"what\s+happens", r"what\s+(?:bus|train|way|route)", r"which\s+(?:bus|train|way|route)", r"end\s+up",
    r"find\s+\w+\s+body", r"say\s+(?:good)?bye\s+to", r"what'?s\s+good\s+for", r"back\s+for\s+(?:this|that|what)",
    r"one\s+eye\s+open", r"make\s+it\s+to", r"live\s+to", r"keep\s+\w+\s+and", r"again\s+and", r"try\s+it\s+and",
    r"better\s+not", r"best\s+not", r"throats?\b", r"raping", r"sodomi", r"impal", r"get\s+a\s+(?:broken\s+)?(?:bottle|brick)", r"nailed\s+to", r"heads?\s+on", r"kneecap", r"hanging", r"make\s+(?:all|every|those|these)\b", r"slow\s+death", r"painful\s+death", r"rid\s+of", r"life\s+(?:hell|a\s+living|miserable)",
    # hidden spellings: "k1ll", "st4b", "r*pe" (readable() writes them out for the patterns)
    r"k[i1!|*][l1!|*][l1!|*]", r"st[4@*]b", r"r[4@*]p[e3*]", r"rap3", r"sh[0*][o0*]t", r"sho[0*]t", r"m[*]rd[e3*]r", r"h[*]rt",
    r"d[1!*][e3]", r"di3",
    r"death\s+to",
    ] + [
    # spelled out ("k i l l", "k.i.l.l") and stretched ("kiill", "hurrt"): readable() writes them back
    word[0] + "".join(rf"[ ._*-]{c}" for c in word[1:]) for word in _SPELLED] + [
    word[0] + "".join(f"{c}+" for c in word[1:]) + r"\b" for word in _SPELLED] + [
    # the forms of _GROUP_EXTRA, _GROUP_DENIED and _VEILED_EXTRA
    r"graves?\b", r"belong\s+(?:in|six|dead)", r"thrown\s+off", r"stoned\b", r"put\s+to\s+death", r"right\s+to\s+(?:live|exist|breathe)",
    r"allowed\s+to\s+(?:live|exist|breathe)", r"deserve\s+to\s+(?:live|exist|breathe)", r"better\s+off\s+dead", r"no\s+idea\s+what",
    r"happen\s+to\s+(?:you|u|him|her|your)\b", r"last\s+(?:breath|moments)", r"scared\s+of", r"afraid\s+of", r"terrified\s+of",
    ] + [rf"{lead}\s+(?:next|the\s+weekend|another|tomorrow|christmas|\w+\s+birthday|the\s+end)"
         for lead in ("see", r"make\s+it\s+to", r"live\s+to\s+see")] + [
    rf"{verb}\w*\s+(?:you|u|ya|him|her|them|em)\s+(?:over|up|open|apart)" for verb in ("run", "mess", "rip", "tear", "carve", "fuck")
    ] + [
    r"bye\s+to", r"watch\s+\w+\s+backs",
    # the norm forms (_GROUP_NORM) and "cut up"
    r"executing", r"wiping", ] + [rf"{word}\s+(?:for|to)\s+(?:\w+\s+){{1,4}}(?:is|would|will)\b"
       for word in ("cure", "answer", "solution", "treatment", "medicine", "fix", "remedy")] + [
     r"without\s+(?:\w+\s+){1,3}(?:alive|breathing|living)\b", r"cut\s+up\b", r"chop\w*\s+up\b",
    r"place\s+for\s+(?:\w+\s+){1,4}(?:is|would)\b",
    r"hit\s+(?:all|every|any|the|those|these)\b", r"be\s+hit\b", r"harm", r"assault", r"injur", r"wound", r"crippl", r"destroy", r"bury", r"buried", r"abus", r"bones\s+of",
    r"legs\s+of", r"necks\s+of", r"arms\s+of", r"skulls\s+of",
    r"throw\w*\s+(?:\w+\s+){1,2}off", r"needs\s+(?:impaling|lynching|stringing)",
    r"set\s+fire", r"set\s+alight", r"matter\s+of\s+time\s+(?:before|until|till)", r"live\s+(?:much\s+)?longer",
    r"take\s+out\s+(?:all|every|the|those|these|any)\b", r"be\s+taken\s+out\b",
    r"dealt\s+with\s+(?:permanently|once|for\s+good|the\s+old|with)", r"death\s+penalty", r"sentenced\s+to\s+death", r"by\s+death",
    r"happier\s+than", r"open\s+season", r"genocide", r"too\s+good\s+for", r"off\s+the\s+(?:face|map)", r"run\s+red",
    r"in\s+(?:camps|a\s+camp|the\s+camps)", r"go\s+(?:\w+\s+){1,2}hunting", r"soon\s+all",
    r"will\s+(?:all\s+)?(?:hang|swing|rot)\b", r"are\s+going\s+to\s+(?:all\s+)?(?:hang|swing|rot)\b",
    r"watch\w*\s+(?:\w+\s+){1,3}?(?:burn|dead|die|suffer)", r"see\w*\s+(?:\w+\s+){1,3}?(?:burn|dead|die|suffer)", r"petrol", r"round\s+up", r"make\s+\w+(?:\s+\w+)?\s+(?:pay|beg|scream)\b",
    # short or common words only in the company the patterns need
    r"bat\b", r"dead\b", r"dies?\b", r"run\s+over", r"string\s+up", r"pay\s+for", r"be\s+sorry", r"know\s+where",
    r"rounded\s+up", r"put\s+down", r"body\s+bag", r"the\s+ground", r"done\s+in", r"last\s+(?:day|week)",
    r"wait\w*\s+(?:till|until|til)\b", r"watch\s+\w+\s+back", r"mind\s+\w+\s+back", r"comin\w*\s+for",
    r"make\s+\w+\s+(?:pay|sorry)", r"sort\w*\s+(?:out\s+)?" + _WHO, r"what'?\s?s\s+coming", r"get\w*\s+what",
    r"wish\s+you\s+(?:hadn'?t|had\s+never|never|were|was)", r"break\w*\s+(?:\w+\s+)?(?:your|ur|yer|his|her|their|my|me)\b",
    r"snap\w*\s+(?:\w+\s+)?(?:your|ur|yer|his|her|their|my|me)\b", r"cave\w*\s+(?:\w+\s+)?(?:your|ur|yer|his|her|their|my|me)\b",
    r"end\w*\s+" + _WHO, r"cut\w*\s+(?:\w+\s+)?" + _WHO, r"hit\w*\s+(?:\w+\s+)?" + _WHO, r"finish\w*\s+" + _WHO,
    r"get\w*\s+" + _WHO, r"do\w*\s+(?:in\s+)?" + _WHO]


def _trie(alternatives: list[str]) -> str:
    """One alternation grouped by first letter: Python's re tries far fewer branches per position
    (0.12 ms per 5 KB of mail against 0.30 for the flat list, bench/threat_cues_quality.py)."""
    groups: dict[str, list[str]] = {}
    others: list[str] = []  # alternatives that start with a group, not a letter
    for alternative in alternatives:
        if alternative[0].isalpha():
            groups.setdefault(alternative[0], []).append(alternative[1:])
        else:
            others.append(alternative)
    return "|".join([f"{first}(?:{'|'.join(sorted(rest, key=len, reverse=True))})"
                     for first, rest in groups.items()] + others)


# The words at least one of which every pattern above needs, on the risk model's folded text
# (filters/text/model.model_text: lower case, apostrophes kept, whitespace as written). One scan
# of the whole message finds the few sentences worth preparing and reading
# (tests/filters/test_threats.py checks it keeps every fixture).
_ANCHOR = re.compile(r"\b(?:" + _trie(_ANCHOR_WORDS) + ")")
# The weapon emoji, scanned for only when the text has one: as a branch of _ANCHOR it made the
# scan a third slower (bench/threat_cues_quality.py --cost).
_EMOJI_ANCHOR = re.compile("[" + "".join(_EMOJI) + "]")
# The same anchors through RE2 on ASCII text (most mail): Python's re tries the alternation at
# every position, ~0.09 M instructions per KB of text (filters/text/matcher.py AsciiFast.spans).
_ANCHOR_FAST = AsciiFast(_ANCHOR)


def may_threaten(prepared: str) -> bool:
    """False when the text has no word any threat pattern needs (a cheap test for a whole message)."""
    return bool(_ANCHOR.search(readable(prepared)))


def candidate_sentences(folded: str, spans: list[tuple[int, int]]) -> list[int]:
    """Indices of the sentences (spans into `folded`, a model_text()) holding an anchor word:
    the only ones find() can match, found with one scan of the message."""
    if not spans:
        return []
    starts = [a for a, _ in spans]
    found: set[int] = set()
    matches = _ANCHOR_FAST.spans(folded)
    if not folded.isascii() and any(emoji in folded for emoji in _EMOJI):  # (ASCII: no emoji)
        matches += [m.span() for m in _EMOJI_ANCHOR.finditer(folded)]
    for start, end in matches:
        for position in (start, end - 1):
            index = bisect_right(starts, position) - 1
            if index >= 0 and position < spans[index][1]:
                found.add(index)
    return sorted(found)


# The writer saying they will not: "i would never hurt you", "i dont want to hurt anyone".
_WILL_NOT = re.compile(
    r"\b(?:never|not|wont|wouldnt|would not|will not|dont want to|do not want to|didnt mean to|did not mean to)"
    r" (?:\w+ ){0,2}?(?:hurt|harm|kill|hit|stab|punch|attack|beat)\b")


# Ending a program, not a person: "if i kill them they get recreated next time i run apt get",
# "kill the daemon and restart it". Only the kill verbs, and only beside a word of computing.
_KILL = re.compile(r"\bkill(?:s|ed|ing)?\b")
_COMPUTING = re.compile(
    r"\b(?:apt get|apt|sudo|pid|pids|killall|pkill|sigkill|sigterm|sighup|daemons?|process(?:es)?|threads?|cron|"
    r"linux|unix|bsd|kernel|shell|terminal|console|reboot(?:ed|ing)?|restart(?:ed|ing|s)?|recreated|respawn(?:ed|s)?|"
    r"spawn(?:ed|s)?|fork(?:ed|s)?|rpm|debian|ubuntu|redhat|cpu|ram|config|scripts?|instances?|containers?|vms?|"
    r"cache|buffers?|windows|xterm|emacs|vim|perl|python|java|mozilla|netscape|browser|tabs?|sessions?)\b")


# "See you in August", "see you at the conference": the model alone reads a sign-off's "see you"
# as a veiled threat. Not "see you in hell", nor "see you after school" (a bully's veiled line).
_SIGN_OFF = re.compile(
    r"\bsee (?:you|u|ya|yall|you all|everyone|everybody) (?:all )?(?:soon|then|there|next (?:week|month|year|time)|"
    r"at (?:the|our|my) (?!gates?\b)|on (?:the|monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
    r"in (?!hell\b|the ground\b|a (?:coffin|box|body bag)\b)\w+)")


def harmless(prepared: str) -> bool:
    """True when the text talks about threats, uses a violent word as an idiom, plays a game or
    speaks of things ("the old files should be wiped out"), ends a program ("kill the daemon"),
    or has no word any threat form needs ("see you in august"), and has no threat in so many
    words: the risk filter then drops the model's threat score for it ("ill kill you at
    fortnite", "threats like ill kill you are never ok")."""
    prepared = readable(prepared)
    if _SIGN_OFF.search(prepared) and not _ANCHOR.search(prepared) and not _EMOJI_ANCHOR.search(prepared):
        # a mail's sign-off ("see you in august, chris") with no violent word anywhere in the window
        return True
    vetoed = bool(_ABOUT.search(prepared) or _MENTION.search(prepared) or _IDIOM.search(prepared)
                  or (_KILL.search(prepared) and _COMPUTING.search(prepared))
                  or _WILL_NOT.search(prepared) or _NO_ONE.search(prepared) or _THINGS.search(prepared)
                  or (_GAME.search(prepared) and not _REAL.search(prepared))
                  or (_SHOOT.search(prepared) and _PHOTO.search(prepared)) or _reports(prepared)
                  or _DEVOTED.search(prepared) or _SPAMMERS.search(prepared) or _AUTHOR.search(prepared)
                  or _no_one_to_harm(prepared)
                  or (_OBJECTS.search(prepared) and not _READER.search(prepared) and not _SOMEONE.search(prepared)
                      and not _PEOPLE_GATE.search(prepared)))
    return vetoed and find(prepared) is None


# Things a pupil rages at with a violent word and no one to hurt: "im going to smash this stupid
# phone", "i could strangle the printer". Only with no person in the window (_SOMEONE, _READER,
# a group noun): "ill smash your phone and you" is read as written.
_OBJECTS = re.compile(
    r"\b(?:phones?|laptops?|computers?|pcs?|printers?|tvs?|telly|cars?|bikes?|alarm|alarm clock|clocks?|homework|"
    r"keyboards?|wifi|wi fi|router|toaster|kettle|fridge|microwave|doors?|hoover|vacuum|tablets?|ipads?|consoles?|"
    r"chargers?|headphones|earphones|speakers?|spreadsheets?|websites?|emails?|weather|rain|traffic|buses|bus|"
    r"trains?|queues?|spots?|hair|shoes?|trainers|socks|jeans|fridges?|washing machine|dishwasher|oven|lawnmower|"
    r"mower|radio|remote|calculator|essay|coursework|textbooks?|pens?|pencils?|chair|desk|table|sofa|bed|pillow|"
    r"mattress|wardrobe|lamp|bulb|battery|batteries|cable|plug|password|app|song|songs|alarm|cauliflower|"
    r"broccoli|sprouts|brussels sprouts|mushrooms|olives|coriander|marmite|tomatoes|peas|beans|spinach|"
    r"cabbage|lettuce|celery|beetroot|parsnips|turnips?|leeks?|kale)\b")
_SOMEONE = re.compile(r"\b(?:him|her|them|he|she|they|hes|shes|theyre|someone|somebody|anyone|everyone|people|"
                      r"me|us|person|man|woman|boy|girl|kid|lad|guy|mr|mrs|miss|sir)\b")
# The writer's own people (seventh pass): "me and my fellow dykes are going to pride", "we queers".
_OWN_PEOPLE = re.compile(r"\b(?:me and (?:my|the other|all my)|we|us|my fellow|our fellow|fellow|all my|the rest of us)\b")
_OTHERS = re.compile(r"\b(?:him|her|them|he|she|they|hes|shes|theyre|someone|somebody|anyone|everyone|everybody|"
                     r"mr|mrs|miss|sir|that (?:boy|girl|kid|lad|guy|man|woman))\b")


def _no_one_to_harm(prepared: str) -> bool:
    """No violent word and no one to harm in the window: no reader, no third person, and no
    group but the writer's own ("me and my fellow dykes are going to pride this weekend"). The
    model's threat reading there is the wording of a plan, not of a threat."""
    if _ANCHOR.search(prepared) or _READER.search(prepared) or _OTHERS.search(prepared):
        return False
    return not _PEOPLE_GATE.search(prepared) or bool(_OWN_PEOPLE.search(prepared))


# Devotion, not violence: "i would die for my friends", "id kill for her hair".
_DEVOTED = re.compile(r"\b(?:would|id|i d|could|we d|wed) (?:\w+ )?(?:die|kill|fight|take a bullet) for\b")


def talk_about(prepared: str) -> bool:
    """True when the text talks about violence without threatening it: a lesson, a report,
    a quotation or its condemnation, a denial ("hitler believed all ... should be killed", "we
    condemn the calls to kill ...", "no one is going to hurt you")."""
    prepared = readable(prepared)
    return bool(_ABOUT.search(prepared) or _MENTION.search(prepared) or _NO_ONE.search(prepared)
                or _reports(prepared)) and find(prepared) is None


# "no one is going to kill you", "nobody wants you dead": violence denied.
_NO_ONE = re.compile(r"\b(?:no one|nobody|noone|no body)\b(?: \w+){0,4}? (?:kill|hurt|stab|shoot|harm|attack|beat|dead|die)"
                     # "no gay person deserves to be hurt", "no woman should ever be attacked"
                     r"|\bno (?:\w+ ){1,2}(?:deserves?|should|ought|has to|needs to|must) (?:\w+ ){0,3}?(?:killed|hurt|stabbed|"
                     r"shot|harmed|attacked|beaten|abused|bullied|die|suffer|threatened)\b")


def _reports(prepared: str) -> bool:
    """A violent word in someone else's reported words or in a quotation (see _reported)."""
    for verb in _SPEECH.finditer(prepared):
        if not _WRITER.search(prepared[:verb.start()]) and _ANCHOR.search(prepared, verb.end()):
            return True
    return any(_ANCHOR.search(quote.group()) and len((prepared[:quote.start()] + prepared[quote.end():]).split()) >= 2
               for quote in _QUOTED.finditer(prepared))


# Words with a negation in them that negate nothing: "i cant wait to see you bleed".
_NOT_NEGATION = re.compile(r"\b(?:cant|cannot|can not) wait\b|\b(?:not|never|wont) (?:rest|stop) (?:until|till|til)\b|\bmake sure \w+ (?:never|cant|cannot|wont|dont)\b")
_ORDINARY_ME = re.compile(r"\b(?:cut|cuts|cutting|kick|kicks|kicking|kicked|shut|freeze|froze) me (?:out|off)\b"
                          r"|\bhit me (?:up|back)\b")
_READER = re.compile(r"\b(?:you|u|ya|yu|yall|ur|your)\b")
_SHOOT = re.compile(r"\b(?:shoot|shot)")
_THING_PRONOUN = re.compile(r"\b(?:them|em|it|those|these)$")
# Talk about threats that is not a threat: "threatening to kill ... is a hate crime", "calls for".
_MENTION = re.compile(r"\b(?:threat(?:s|ening|ened)? (?:to|against|of)|calls? (?:for|to)|calling (?:for|to)|incitement|"
                      r"incite|inciting|hate crimes?|hate speech|hateful|condemn|condemns|condemned|reported (?:him|her|"
                      r"them|it|this)|banned for|suspended for|arrested for|jailed for|excluded for)\b")


def _reported(prepared: str, match: re.Match) -> bool:
    """Someone else's words or belief, or a quotation: a speech verb before the match whose
    subject is not the writer, or the match inside double quotes with words around it."""
    prefix = prepared[:match.end()]  # a verb inside the match counts too: "says women should be ..."
    for verb in _SPEECH.finditer(prefix):
        if not _WRITER.search(prefix[:verb.start()]):
            return True
    for quote in _QUOTED.finditer(prepared):
        if quote.start() <= match.start() and match.end() <= quote.end() and \
                len((prepared[:quote.start()] + prepared[quote.end():]).split()) >= 2:
            return True
    return False


def find(prepared: str) -> Threat | None:
    """The threat in one sentence of prepared text (filters/text/model.prepare), or None.

    A disclosure wins over the other kinds: "he said hed stab me" is the writer threatened,
    not threatening."""
    prepared = readable(prepared)
    if not _ANCHOR.search(prepared) or _ABOUT.search(prepared):
        return None
    mention = _MENTION.search(prepared)
    intent = _INTENT_GATE.search(prepared) is not None
    has = {"": True, "intent": intent, "group": _GROUP_GATE.search(prepared) is not None}
    veiled = _VEILED_GATE.search(prepared) is not None
    for kind, needs, pattern in KINDS:
        if needs not in has:  # the people gate, read only when a pattern needs it
            has["people"] = _PEOPLE_GATE.search(prepared) is not None
            has["intent people"] = intent and has["people"]
        if not has[needs] or (kind == "veiled" and not veiled):
            continue
        for match in pattern.finditer(prepared):
            words = match.group()
            # the negation must sit inside the match or just before it ("i would never", "no one deserves")
            before = prepared[max(0, match.start() - 25):match.start()]
            if kind not in _NEGATION_IS_THREAT and (_NEGATED.search(_NOT_NEGATION.sub("", words))
                                     or _NEGATED.search(before.split(",")[-1])):
                continue
            if words.startswith("ill ") and _UNWELL.search(before):  # "physically ill", "feel ill"
                continue
            if _IDIOM.search(prepared[max(0, match.start() - 30):match.end() + 30]):
                continue
            if kind != "disclosure" and _AUTHOR.search(prepared, match.start(), match.end() + 80):
                continue  # "strangle whoever broke the nightly build": exasperation at work done
            if kind != "disclosure" and _GAME.search(prepared) and _GAME_VERBS.search(words) and \
                    not _REAL.search(prepared):
                continue
            if kind in ("conditional", "group", "group denied") and _THINGS.search(_SIMILE.sub("", prepared)):
                continue
            if kind == "disclosure" and _ORDINARY_ME.search(prepared, match.start(), match.end() + 8):
                continue  # "she will hate me and cut me out": no violence
            if kind != "disclosure" and (mention or (_SHOOT.search(words) and _PHOTO.search(prepared))):
                continue
            if kind == "direct" and _THING_PRONOUN.search(words) and _THINGS.search(prepared):
                continue  # "ill beat them with the sugar": them is the eggs
            # someone else's words: a call against a group or a "should be" (a threat reported to the
            # reader, "he said hes going to jump you", stays one: a warning the DSL wants)
            if (kind in _ALWAYS_REPORTABLE or (kind == "direct" and not _READER.search(words))) and \
                    _reported(prepared, match):
                continue
            return Threat(_NEGATION_IS_THREAT.get(kind, _REPORTED_AS.get(kind, kind)), words)
    return None
