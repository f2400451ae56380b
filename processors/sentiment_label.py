"""The sentiment label of a public-service comment: VADER with a public-service lexicon.

Why not TextBlob's polarity with ±0.1 thresholds (the old rule): most complaints about public
services name no opinion word at all ("on hold for two hours", "no one called back", "still
waiting after 14 weeks"), so TextBlob scores them 0.0 and calls them neutral, while the words
that *name* a service or a customer's circumstance ("benefits", "disability", "late payment
penalty", "my son died") swing it and plain VADER either way.

The method (``METHOD``), measured in ``benchmarks/bench_sentiment_labels.py``:

1. Phrases that carry sentiment in this domain are rewritten to one token each, with a valence
   on VADER's scale (−4 … +4): waits and delays ("on hold", "for three months", "still
   waiting"), being passed around ("run around", "hung up"), repeats ("for the third time",
   "six times"), lost paperwork, and the positive counterparts ("in and out", "in ten
   minutes", "called me back", "on the first try"). A token stays a word, so VADER's own rules
   still apply to it: "no one called back" and "didn't have to wait" are negated, "very quick"
   is boosted, a clause after "but" weighs more.
2. VADER's lexicon is extended with service words it lacks ("quick", "knowledgeable",
   "nightmare", "condescending", "clunky", …) and words that name a service or a
   circumstance here rather than judge it are set to 0 or damped ("benefits", "security",
   "penalty", "died", "like", "please", "help", "fine", …).
3. "no one"/"nobody" count as a complaint and negate what follows like "not" (VADER only
   knows "no" and "not").
4. Sarcastic praise: a comment that opens with set-off praise ("Oh great,", "Perfect.",
   "Thanks for the …", "Love how …") and whose remainder (three words or more) is not
   positive is negative.
5. The label is ``negative`` below −``NEUTRAL_BAND``, ``positive`` above it, else ``neutral``
   on the resulting compound score, which is ``label_score``.

Pure: no I/O beyond VADER reading its bundled lexicon once at import; English only.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from servicepulse.processors.vader_compound import VaderCompound

SentimentLabel = Literal["negative", "neutral", "positive"]

METHOD: Final = "vader-public-service-v1"

# The band with the best macro-F1 on the development half of the corpus
# (benchmarks/bench_sentiment_labels.py prints the sweep): 66 of its 81 neutral comments score
# within ±0.1 (58 exactly 0), 15 of its 219 opinions do.
NEUTRAL_BAND: Final = 0.1

_NUMBER = (
    r"(?:\d+(?:\.\d+)?|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|forty|forty-five|fifty|sixty|ninety|a few|few|a couple of|"
    r"couple of|several|many|a dozen|dozens of)"
)
_ONE_TO_TEN = r"(?:\d+|two|three|four|five|six|seven|eight|nine|ten|several|multiple|many)"
_ORDINAL = r"(?:third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\d+(?:rd|th))"

# (triggers, pattern, token): a match always contains one of the triggers (lower case).
# Order matters: earlier patterns consume text before later ones see it.
# Tokens are letters only so that VADER's punctuation stripping keeps them intact.
_PHRASES: Final[tuple[tuple[tuple[str, ...], str, str], ...]] = (
    # Idioms first, before their words are matched one by one.
    (("nothing",), r"\bthanks for nothing\b", "spxidiomneg"),
    (("again",), r"\bnever again\b", "spxidiomneg"),
    (("again",), r"\bthanks? (?:you )?(?:so much )?again\b", "thanks"),
    (
        ("happier", "better", "pleased"),
        r"\bcould(?:n't| not) (?:be|have been) (?:happier|better|more pleased)\b",
        "spxpraise",
    ),
    (
        ("asked", "no time"),
        r"\bcould(?:n't| not) have asked for (?:better|more)\b|\bin no time\b",
        "spxpraise",
    ),
    (
        ("should",),
        r"\bshould(?:n't| not) (?:be|have been|take) (?:this|so|that) "
        r"(?:hard|difficult|complicated|long)\b",
        "spxidiomneg",
    ),
    (("point", "many"), r"\bwhat's the point\b|\bhow many (?:more )?times\b", "spxidiomneg"),
    (
        ("why",),
        r"(?:^|(?<=[.!?]) )why (?=is|does|do|did|can|can't|won't|isn't|are|aren't|has|was)",
        "spxwhy ",
    ),
    (("too ",), r"\btoo (?:many|much|long)\b", "spxtoomuch"),
    (
        ("work",),
        r"\b(?:does ?n[o']t|did ?n[o']t|don't|won't|never|isn't|wasn't|not|aren't) "
        r"(?:actually |even )?work(?:s|ed|ing)?\b",
        "spxbroken",
    ),
    (
        ("reach", "hold of", "contact", "talk to", "speak", "get a"),
        r"\b(?:can't|cannot|couldn't|could not|unable to|impossible to|no way to) "
        r"(?:reach|get hold of|contact|talk to|speak to|speak with|get an? )",
        "spxunreachable ",
    ),
    (("kept",), r"\bkept (?:me|us) (?:updated|informed|posted|in the loop)\b", "spxcallback"),
    (("like",), r"\b(?:I|we) (?:really )?(?:like|liked)\b", "spxlike"),
    (
        ("again",),
        r"\b(?:would|will|'d|'ll) (?:use|come|do) (?:it |this |them )?(?:back )?again\b",
        "spxpraise",
    ),
    (
        ("beyond", "extra mile", "out of"),
        r"\b(?:above and beyond|(?:the )?extra mile|out of (?:their|her|his|the) way)\b",
        "spxpraise",
    ),
    (
        ("in and out", "breeze", "notch", "star", "10/10", "a+"),
        r"\b(?:in and out|a breeze|top notch|five stars?|5 stars?|10/10|a\+)(?=\W|$)",
        "spxpraise",
    ),
    (
        ("hours",),
        r"\b(?:office|opening|business|saturday|extended|evening|weekend) hours\b",
        "spxhours",
    ),
    (("hours",), r"\bhours (?:are|of operation)\b", "spxhours"),
    # Speed, on its good side: "in ten minutes", "within an hour", "the same day".
    (
        ("min", "day", "hour", "week"),
        rf"\b(?:in|within|under|in under|in less than|less than|only|just|after only) "
        rf"(?:about |just |only )?{_NUMBER} (?:minutes?|mins?|days?|hours?|weeks?)\b",
        "spxprompt",
    ),
    (("same", "next"), r"\bthe (?:same|next) (?:day|morning)\b|\bthe same week\b", "spxprompt"),
    (
        ("away", "immediately", "spot", "first"),
        r"\b(?:right away|straight away|immediately|on the spot|"
        r"first (?:try|call|time I called))\b",
        "spxprompt",
    ),
    (
        ("one", "single"),
        r"\b(?:in|on) (?:one|a single) (?:visit|call|phone call|trip|sitting)\b",
        "spxprompt",
    ),
    (("than",), r"\b(?:faster|earlier|sooner|quicker|shorter) than\b", "spxprompt"),
    (("on time",), r"\bon time\b", "spxprompt"),
    (
        ("wait", "line", "queue"),
        r"\b(?:short|no|little|quick|minimal) (?:wait|line|queue)s?\b",
        "spxshortwait",
    ),
    # Speed, on its bad side: a number of hours, weeks, months or years is almost always how
    # long someone waited; minutes and days only after "for", "after", "past", ….
    (
        ("min", "day"),
        rf"\b(?:for|after|past|over|waited|spent) (?:about |almost |over |nearly |more than )?"
        rf"{_NUMBER}(?: and a half)? (?:minutes?|mins?|days?)\b",
        "spxdelay",
    ),
    (
        ("hour", "week", "month", "year"),
        rf"\b{_NUMBER}(?: and a half)?(?:-| )(?:hours?|weeks?|months?|years?)\b",
        "spxdelay",
    ),
    (("year",), r"\b(?:over|more than|almost|nearly) a year\b", "spxdelay"),
    (
        ("for ", "since "),
        r"\b(?:for|since) (?:ages|forever|months|weeks|years|january|february|march|april|may|june|"
        r"july|august|september|october|november|december|last (?:week|month|year))\b",
        "spxdelay",
    ),
    (("forever", "all day"), r"\btook forever\b|\ball day\b", "spxdelay"),
    # Waiting, holding, being passed around.
    (
        ("still",),
        r"\bstill (?:waiting|wait|no|not|nothing|hasn't|haven't|hadn't|has not|have not|don't|"
        r"doesn't|didn't|isn't|wasn't|can't|says|shows|pending|in process|under review|stuck)\b",
        "spxstill",
    ),
    (("hold",), r"\b(?:put |placed |kept |left )?on hold\b|\bhold (?:times?|music)\b", "spxhold"),
    (
        (" up", "dropped", "disconnected"),
        r"\b(?:hung|hangs?|hanging) up\b|\b(?:call|line) (?:dropped|disconnected)\b",
        "spxhungup",
    ),
    (("dropped",), r"\bdropped (?:my|the|our) calls?\b", "spxhungup"),
    (
        ("run", "back and forth", "passed around", "goalposts"),
        r"\brun[- ]?around\b|\bback and forth\b|\bpassed around\b|\bmoving the goalposts\b",
        "spxrunaround",
    ),
    (
        ("around", "between"),
        r"\b(?:bounced|transferred|passed) (?:around|between)\b",
        "spxrunaround",
    ),
    (
        ("hoops", "red tape", "limbo"),
        r"\bjump(?:ing)? through hoops\b|\bred tape\b|\bin limbo\b",
        "spxrunaround",
    ),
    (
        ("lost", "misplaced", "lose", "losing"),
        r"\b(?:lost|misplaced|lose|losing) (?:my|our|the|his|her|their|same) "
        r"(?:\w+ )?(?:paperwork|application|file|documents?|forms?|records|check|claim|case|"
        r"mail)\b",
        "spxlostpapers",
    ),
    (
        ("times", "calls", "trips", "visits", "departments", "agents", "people", "emails"),
        rf"\b(?:{_ONE_TO_TEN}|a dozen) (?:different )?(?:times|calls|phone calls|trips|visits|"
        r"departments|agents|people|emails)\b",
        "spxrepeat",
    ),
    (
        ("time", "visit", "trip", "call"),
        rf"\b(?:for )?the {_ORDINAL} (?:time|visit|trip|call)\b",
        "spxrepeat",
    ),
    (("again", "over and over"), r"\b(?:over and over|yet again|once again)\b", "spxrepeat"),
    (("out",), r"\b(?:timed|times|timing|logged|logs|locked|kicked) (?:me )?out\b", "spxbroken"),
    (
        ("eyes", "laughing", "script"),
        r"\brolled (?:her|his|their) eyes\b|\blaughing at\b|\bread(?:ing)? (?:me )?from a script\b",
        "spxrude",
    ),
    (("zero",), r"\bzero (?:respect|help|communication|information|idea)\b", "spxrude"),
    # Being called back, or getting through: negatable ("no one called back").
    (
        ("back",),
        r"\b(?:call(?:ed|s|ing)?|get(?:ting)?|got|ring|rang) (?:me |us |him |her |them )?back\b",
        "spxcallback",
    ),
    (
        ("callback", "call back", "returned"),
        r"\bcall ?backs?\b|\breturned (?:my|our) (?:calls?|emails?)\b",
        "spxcallback",
    ),
    (("follow",), r"\bfollow(?:ed|s)? up\b", "spxcallback"),
    (
        ("through", "pick"),
        r"\b(?:get|got|getting) through\b|\b(?:picked|pick|picks) up\b",
        "spxcallback",
    ),
    (
        ("out",),
        r"\b(?:sort(?:ed)?|figured?) (?:it |that |this |everything |things )?out\b",
        "solved",
    ),
    # "no one" and "nobody" are a complaint of their own and negate what follows like "not"
    # ("none" is one of VADER's negation words): "nobody called back".
    (
        ("no one", "no-one", "noone", "nobody"),
        r"\b(?:no one|no-one|noone|nobody)\b",
        "spxnobody none",
    ),
)

_COMPILED: Final = tuple(
    (triggers, re.compile(p, re.IGNORECASE), token) for triggers, p, token in _PHRASES
)

# Valences on VADER's scale (its lexicon: mean human rating, −4 … +4).
# fmt: off
_LEXICON: Final[dict[str, float]] = {
    # Phrase tokens.
    "spxidiomneg": -2.5,
    "spxpraise": 2.5,
    "spxhours": 0.0,
    "spxprompt": 1.6,
    "spxshortwait": 1.8,
    "spxdelay": -1.5,
    "spxstill": -2.2,
    "spxhold": -1.5,
    "spxhungup": -2.2,
    "spxrunaround": -2.0,
    "spxlostpapers": -2.3,
    "spxrepeat": -1.5,
    "spxbroken": -1.6,
    "spxrude": -2.2,
    "spxcallback": 1.2,
    "spxnobody": -1.2,
    "spxwhy": -1.0,
    "spxtoomuch": -1.5,
    "spxunreachable": -1.8,
    "spxlike": 1.5,
    # Service qualities VADER lacks.
    "fast": 1.6, "quick": 1.6, "quickly": 1.5, "faster": 1.6, "quicker": 1.6,
    "simple": 1.2, "simpler": 1.2, "smooth": 1.8, "smoothly": 1.8, "straightforward": 1.5,
    "seamless": 2.0, "patient": 1.6, "knowledgeable": 1.8, "thorough": 1.5,
    "professional": 1.5, "professionally": 1.5, "organized": 1.3, "convenient": 1.5,
    "polite": 1.8, "respectful": 1.8, "attentive": 1.6, "accurate": 1.0, "informative": 1.3,
    "prompt": 1.3, "promptly": 1.3, "efficiently": 1.6, "angel": 2.0, "lifesaver": 2.5,
    "lifesavers": 2.5, "listened": 1.2, "listen": 0.8, "fixed": 1.2, "worked": 1.0,
    "works": 1.0, "painlessly": 1.3, "breeze": 1.5, "compassionate": 2.0, "reassuring": 1.6,
    "slow": -1.6, "slower": -1.6, "pointless": -1.8, "maze": -1.2, "nightmare": -2.5,
    "bureaucratic": -1.3, "condescending": -2.0, "dismissive": -1.8, "absurd": -1.8,
    "forever": -1.0, "overcharged": -2.0, "disconnected": -1.5, "disconnects": -1.5,
    "dropped": -0.8, "crashed": -1.5, "crashes": -1.5, "erroring": -1.5, "glitchy": -1.5,
    "clunky": -1.2, "unhelpful": -2.0, "unreachable": -1.5, "backlog": -1.0,
    "understaffed": -1.2, "legalese": -1.0, "voicemail": -0.6, "yelled": -2.0,
    "shouted": -1.8, "incompetence": -2.1, "disgusted": -2.6, "appalling": -2.8,
    "infuriating": -2.6, "mess": -1.8, "limbo": -1.5, "stuck": -1.4, "hassle": -1.2,
    "waited": -0.8, "waiting": -0.8, "wait": -0.5, "again": -0.9, "twice": -1.0,
    "hours": -0.8, "weeks": -0.8, "months": -1.0, "years": -0.5, "ignored": -1.8,
    "misspelled": -1.2, "impossible": -1.5, "hard": -1.0, "answered": 1.0, "answers": 0.6,
    "issues": -1.0, "issue": -0.8, "cancelled": -1.2, "canceled": -1.2, "refused": -1.5,
    "pending": -0.5, "rejected": -1.2, "confusing": -1.5,
    # Words that name a service or a circumstance here, not a judgement of the service.
    "benefit": 0.0, "benefits": 0.0, "security": 0.0, "credit": 0.0, "support": 0.0,
    "interest": 0.0, "free": 0.6, "penalty": 0.0, "late": 0.0, "stolen": 0.0, "lost": -0.3,
    "died": 0.0, "dead": 0.0, "death": 0.0, "sick": 0.0, "injured": 0.0, "accident": 0.0,
    "emergency": 0.0, "fraud": 0.0, "funeral": 0.0, "loss": 0.0, "grave": 0.0,
    "worried": 0.0, "nervous": 0.0, "dreading": 0.0, "dread": 0.0, "worry": 0.0,
    "cancel": 0.0, "dispute": 0.0, "complaint": -0.5, "denied": -0.5, "appeal": 0.0,
    "like": 0.0, "please": 0.0, "help": 0.6, "want": 0.0, "important": 0.0, "sure": 0.0,
    "no": 0.0, "fine": 0.3, "ok": 0.3, "okay": 0.3, "special": 0.3, "joke": -1.2,
    "missed": -0.6, "missing": -0.6, "miss": -0.3,
}
# fmt: on

# Praise that opens a sarcastic complaint: "Oh great, …", "Perfect." or "Thanks for the …"
# set off by punctuation, or praise that cannot be meant plainly ("Love being told …").
_SARCASTIC_OPENER: Final = re.compile(
    r"^\W*(?:oh,? |well,? |gee,? )*(?:"
    r"(?:great|wonderful|fantastic|perfect|brilliant|excellent|amazing|lovely|terrific|awesome|"
    r"super|sure|yeah,? right|thanks(?: a lot)?|thank you|nice|good job)(?: job)?\s*[,.!:;]"
    r"|love (?:how|being|that|it when)|good to know|nice to know|real(?:ly)? efficient|"
    r"thanks for (?:the|another|making|making me|sending|losing)|"
    r"what a (?:great|wonderful|fantastic|brilliant|nice|lovely)|nothing says)",
    re.IGNORECASE,
)
# The remainder must say something (a few words) for a sarcastic reading.
_SARCASM_MIN_WORDS: Final = 3

_ANALYZER: Final = SentimentIntensityAnalyzer()
_ANALYZER.lexicon.update(_LEXICON)
# polarity_scores' compound, bit for bit, faster (processors.vader_compound).
_COMPOUND: Final = VaderCompound(_ANALYZER)


def rewrite_phrases(text: str) -> str:
    """The text with every public-service phrase replaced by its lexicon token."""
    lowered = text.lower()
    for triggers, pattern, token in _COMPILED:
        # A regex pass costs ~10 µs, a substring test ~0.1 µs: run a pattern only when one of
        # the words every match contains is there (a plain loop: any() over a generator
        # doubled the cost of the whole rewrite).
        for trigger in triggers:
            if trigger in lowered:
                text = pattern.sub(token, text)
                lowered = text.lower()
                break
    return text


def _compound(text: str) -> float:
    return _COMPOUND.compound(rewrite_phrases(text))


def label_score(text: str) -> float:
    """The score the label comes from, in [−1, 1]: VADER's compound on the rewritten text;
    for praise that opens a complaint ("Oh great, the system is down again."), the
    complaint's compound, at most −``NEUTRAL_BAND`` − 0.05 when it has no opinion words."""
    score = _compound(text)
    opener = _SARCASTIC_OPENER.match(text)
    if opener is not None:
        rest = text[opener.end() :]
        if len(rest.split()) >= _SARCASM_MIN_WORDS:
            rest_score = _compound(rest)
            if rest_score <= 0.0:
                return min(rest_score, -NEUTRAL_BAND - 0.05)
    return score


def label_for_score(score: float) -> SentimentLabel:
    """negative below −NEUTRAL_BAND, positive above +NEUTRAL_BAND, else neutral."""
    if score < -NEUTRAL_BAND:
        return "negative"
    if score > NEUTRAL_BAND:
        return "positive"
    return "neutral"
