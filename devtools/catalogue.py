"""The demo generator's catalogue: agencies, services and their channel mix, case timing per
channel, and the comment bank. Invented but plausible data, kept apart from the generator's
logic so either can be read on its own; every name here is read by ``devtools.generator``."""

from __future__ import annotations

import string
from dataclasses import dataclass

from servicepulse.schemas.models import Channel

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# --------------------------------------------------------------------------------------------
# Catalog: agencies, services, channels
# --------------------------------------------------------------------------------------------

CHANNELS: tuple[Channel, ...] = (
    Channel.WEB,
    Channel.PHONE,
    Channel.IN_PERSON,
    Channel.EMAIL,
    Channel.CHAT,
    Channel.MAIL,
    Channel.MOBILE_APP,
    Channel.SOCIAL,
)
HUMAN_CHANNELS = frozenset(
    {Channel.PHONE, Channel.IN_PERSON, Channel.EMAIL, Channel.CHAT, Channel.MAIL, Channel.SOCIAL}
)
DIGITAL_CHANNELS = frozenset({Channel.WEB, Channel.MOBILE_APP})

# Median time to the first response, and between later steps, per channel.
FIRST_RESPONSE_MEDIAN_MS: dict[Channel, int] = {
    Channel.PHONE: 6 * MINUTE_MS,
    Channel.CHAT: 3 * MINUTE_MS,
    Channel.IN_PERSON: 20 * MINUTE_MS,
    Channel.WEB: 5 * HOUR_MS,
    Channel.MOBILE_APP: 4 * HOUR_MS,
    Channel.EMAIL: 8 * HOUR_MS,
    Channel.SOCIAL: 2 * HOUR_MS,
    Channel.MAIL: 3 * DAY_MS,
}
STEP_MEDIAN_MS: dict[Channel, int] = {
    Channel.PHONE: 7 * MINUTE_MS,
    Channel.CHAT: 4 * MINUTE_MS,
    Channel.IN_PERSON: 12 * MINUTE_MS,
    Channel.WEB: 6 * HOUR_MS,
    Channel.MOBILE_APP: 6 * HOUR_MS,
    Channel.EMAIL: 10 * HOUR_MS,
    Channel.SOCIAL: 3 * HOUR_MS,
    Channel.MAIL: 4 * DAY_MS,
}
MAX_DELAY_MS = 14 * DAY_MS

A11_DRIVERS = (
    "trust",
    "satisfaction",
    "effectiveness",
    "ease",
    "efficiency",
    "transparency",
    "employee_helpfulness",
)


@dataclass(frozen=True)
class Agency:
    code: str
    display: str  # as customers write it in comments
    offices: tuple[str, ...]
    weight: float
    drivers: tuple[str, ...]  # the A-11 items this agency's survey asks
    millis: bool  # whether its systems send sub-second timestamps


@dataclass(frozen=True)
class Service:
    agency: str
    name: str
    phrases: tuple[str, ...]  # how customers refer to it ("my refund")
    forms: tuple[str, ...]
    weight: float  # share of its agency's volume
    difficulty: float  # baseline friction, raises pain
    channels: tuple[float, ...]  # weights in CHANNELS order
    transfers_to: tuple[tuple[str, str], ...]
    self_service: bool  # can be finished online without staff


AGENCIES: dict[str, Agency] = {
    agency.code: agency
    for agency in (
        Agency(
            "ssa",
            "Social Security",
            ("field office", "local Social Security office", "card center"),
            0.24,
            (
                "satisfaction",
                "trust",
                "effectiveness",
                "ease",
                "efficiency",
                "employee_helpfulness",
            ),
            True,
        ),
        Agency(
            "irs",
            "the IRS",
            ("Taxpayer Assistance Center", "local IRS office"),
            0.24,
            ("satisfaction", "trust", "ease", "efficiency", "transparency"),
            True,
        ),
        Agency(
            "va",
            "the VA",
            ("VA medical center", "regional benefits office", "community clinic"),
            0.16,
            A11_DRIVERS,
            False,
        ),
        Agency(
            "uscis",
            "USCIS",
            ("field office", "Application Support Center"),
            0.11,
            ("satisfaction", "trust", "ease", "efficiency", "transparency", "employee_helpfulness"),
            False,
        ),
        Agency(
            "fema",
            "FEMA",
            ("Disaster Recovery Center", "mobile registration center"),
            0.07,
            (
                "satisfaction",
                "trust",
                "effectiveness",
                "efficiency",
                "transparency",
                "employee_helpfulness",
            ),
            False,
        ),
        Agency(
            "cms",
            "Medicare",
            ("local SHIP office", "enrollment center"),
            0.10,
            ("satisfaction", "trust", "ease", "efficiency"),
            True,
        ),
        Agency(
            "state",
            "the State Department",
            ("passport agency", "passport acceptance facility"),
            0.08,
            ("satisfaction", "trust", "effectiveness", "ease", "efficiency"),
            False,
        ),
    )
}

#                web   phone in_p  email chat  mail  app   social
SERVICES: tuple[Service, ...] = (
    Service(
        "ssa",
        "retirement",
        ("my retirement benefits", "my retirement application"),
        ("the SSA-1 application", "Form SSA-7004"),
        0.40,
        0.3,
        (0.34, 0.30, 0.16, 0.03, 0.04, 0.06, 0.05, 0.02),
        (("cms", "medicare_enrollment"), ("ssa", "disability")),
        True,
    ),
    Service(
        "ssa",
        "disability",
        ("my disability claim", "my SSDI application"),
        ("Form SSA-3368", "Form SSA-827"),
        0.30,
        0.9,
        (0.22, 0.36, 0.20, 0.04, 0.03, 0.11, 0.02, 0.02),
        (("ssa", "retirement"), ("va", "benefits_claims")),
        False,
    ),
    Service(
        "ssa",
        "replacement_card",
        ("a replacement Social Security card", "my new card"),
        ("Form SS-5",),
        0.30,
        0.2,
        (0.36, 0.14, 0.30, 0.02, 0.03, 0.05, 0.09, 0.01),
        (("ssa", "retirement"), ("uscis", "green_card")),
        True,
    ),
    Service(
        "irs",
        "refunds",
        ("my refund", "my tax refund", "my amended return"),
        ("Form 1040-X", "Form 8379"),
        0.50,
        0.5,
        (0.40, 0.27, 0.05, 0.02, 0.05, 0.06, 0.13, 0.02),
        (("irs", "identity_verification"), ("irs", "payment_plans")),
        True,
    ),
    Service(
        "irs",
        "payment_plans",
        ("a payment plan", "my installment agreement"),
        ("Form 9465", "Form 433-F"),
        0.25,
        0.5,
        (0.42, 0.30, 0.05, 0.02, 0.05, 0.08, 0.07, 0.01),
        (("irs", "refunds"),),
        True,
    ),
    Service(
        "irs",
        "identity_verification",
        ("verifying my identity", "my identity check"),
        ("Form 14039", "Letter 5071C"),
        0.25,
        1.0,
        (0.38, 0.30, 0.17, 0.01, 0.04, 0.06, 0.03, 0.01),
        (("irs", "refunds"), ("ssa", "replacement_card")),
        False,
    ),
    Service(
        "va",
        "health_appointments",
        ("my VA appointment", "a primary care appointment"),
        ("VA Form 10-10EZ",),
        0.55,
        0.5,
        (0.22, 0.40, 0.14, 0.03, 0.05, 0.02, 0.12, 0.02),
        (("va", "benefits_claims"), ("cms", "medicare_enrollment")),
        True,
    ),
    Service(
        "va",
        "benefits_claims",
        ("my disability compensation claim", "my VA claim"),
        ("VA Form 21-526EZ", "VA Form 21-0966"),
        0.45,
        0.8,
        (0.35, 0.30, 0.12, 0.04, 0.04, 0.09, 0.04, 0.02),
        (("va", "health_appointments"), ("ssa", "disability")),
        False,
    ),
    Service(
        "uscis",
        "green_card",
        ("my green card renewal", "my permanent resident card"),
        ("Form I-90", "Form I-485"),
        0.55,
        0.8,
        (0.42, 0.24, 0.14, 0.03, 0.07, 0.06, 0.03, 0.01),
        (("uscis", "naturalization"), ("ssa", "replacement_card")),
        True,
    ),
    Service(
        "uscis",
        "naturalization",
        ("my naturalization application", "my citizenship case"),
        ("Form N-400",),
        0.45,
        0.8,
        (0.42, 0.22, 0.18, 0.03, 0.06, 0.06, 0.02, 0.01),
        (("uscis", "green_card"), ("state", "passport_renewal")),
        True,
    ),
    Service(
        "fema",
        "disaster_assistance",
        ("disaster assistance", "my FEMA claim", "rental assistance after the storm"),
        ("the FEMA registration", "the SBA disaster loan application"),
        1.0,
        0.7,
        (0.28, 0.32, 0.22, 0.02, 0.03, 0.03, 0.08, 0.02),
        (("irs", "refunds"), ("ssa", "replacement_card")),
        False,
    ),
    Service(
        "cms",
        "medicare_enrollment",
        ("my Medicare enrollment", "signing up for Part B"),
        ("Form CMS-40B", "Form CMS-L564"),
        1.0,
        0.6,
        (0.30, 0.40, 0.08, 0.03, 0.05, 0.10, 0.02, 0.02),
        (("ssa", "retirement"),),
        True,
    ),
    Service(
        "state",
        "passport_renewal",
        ("my passport renewal", "my passport"),
        ("Form DS-82", "Form DS-11"),
        1.0,
        0.4,
        (0.46, 0.20, 0.14, 0.04, 0.04, 0.10, 0.01, 0.01),
        (("uscis", "naturalization"),),
        True,
    ),
)
SERVICE_BY_KEY = {(service.agency, service.name): service for service in SERVICES}
SERVICE_WEIGHTS = [AGENCIES[service.agency].weight * service.weight for service in SERVICES]


# --------------------------------------------------------------------------------------------
# Comment bank: (sentiment, topic, template); {slots} are filled per comment
# --------------------------------------------------------------------------------------------

TEMPLATES: tuple[tuple[str, str, str], ...] = (
    # positive
    (
        "positive",
        "wait",
        "Only waited {short_wait} and the call was quick. Very happy with the service.",
    ),
    (
        "positive",
        "wait",
        "I got an appointment within {days} days, much faster than I expected. Great experience.",
    ),
    ("positive", "wait", "Fast service today, I was in and out of the {office} in {short_wait}."),
    ("positive", "wait", "Short wait, friendly greeting, done in {short_wait}. Impressive."),
    (
        "positive",
        "transfer",
        "I was transferred once but the second agent already had my notes. Nice job.",
    ),
    (
        "positive",
        "transfer",
        "The transfer was smooth and the specialist knew exactly what to do with {service}.",
    ),
    ("positive", "staff", "{staff} was patient and kind and explained every step of {service}."),
    ("positive", "staff", "Thank you to {staff}, who went above and beyond. Wonderful."),
    (
        "positive",
        "staff",
        "The representative was friendly, knowledgeable and helpful. Excellent service.",
    ),
    ("positive", "staff", "{staff} was very professional and answered all my questions."),
    ("positive", "staff", "Great staff at the {office}. Clear answers and a smile."),
    (
        "positive",
        "staff",
        "{staff} made a stressful day much better. I really appreciate the help.",
    ),
    (
        "positive",
        "website",
        "The online application for {service} was easy to use. Took me {short_wait}.",
    ),
    (
        "positive",
        "website",
        "The {channel} was clear and simple, I finished everything from my couch. Great.",
    ),
    ("positive", "website", "Love the new {channel}, it was quick and easy to check on {service}."),
    (
        "positive",
        "website",
        "Uploading my documents worked perfectly the first time. Good website.",
    ),
    ("positive", "form", "The instructions for {form} were clear and easy to follow."),
    ("positive", "form", "Filling out {form} online was simple and the help text was useful."),
    (
        "positive",
        "outcome",
        "My issue with {service} was resolved on the first contact. Thank you!",
    ),
    ("positive", "outcome", "Everything was handled perfectly, {service} is finally sorted out."),
    ("positive", "outcome", "Very satisfied. {agency} made {service} painless."),
    ("positive", "outcome", "Got the decision in {days} days. Excellent work."),
    ("positive", "general", "Great service, thank you."),
    ("positive", "general", "Best experience I have had with {agency} in years."),
    ("positive", "general", "Smooth and easy. Good job!"),
    ("positive", "general", "Wonderful experience from start to finish."),
    ("positive", "general", "Muy buena atención, excelente servicio. Gracias."),
    # negative
    ("negative", "wait", "I waited {long_wait} on hold and then the call dropped. Terrible."),
    (
        "negative",
        "wait",
        "Waited {long_wait} at the {office} just to be told to come back another day. Awful.",
    ),
    (
        "negative",
        "wait",
        "It has been {weeks} weeks and still no update on {service}. This is "
        "unacceptable and frustrating.",
    ),
    ("negative", "wait", "{long_wait} for a simple question is ridiculous. Way too slow."),
    (
        "negative",
        "wait",
        "I called {attempts} times and never reached a real person. Very frustrating.",
    ),
    ("negative", "wait", "The hold music for {long_wait}. Horrible experience."),
    (
        "negative",
        "transfer",
        "I was transferred {transfers} times and every person asked me the "
        "same questions. Frustrating and a waste of time.",
    ),
    (
        "negative",
        "transfer",
        "Got bounced between departments and nobody could help with {service}. Terrible.",
    ),
    (
        "negative",
        "transfer",
        "They sent me to another office that said it was not their problem. Useless.",
    ),
    (
        "negative",
        "transfer",
        "Transferred again and again, then disconnected. Worst experience ever.",
    ),
    (
        "negative",
        "website",
        "The website kept giving me an error when I tried to upload documents "
        "for {service}. So frustrating.",
    ),
    (
        "negative",
        "website",
        "The {channel} logged me out {attempts} times while I was filling in "
        "{form}. Very annoying.",
    ),
    (
        "negative",
        "website",
        "The identity check is broken, I could not get past the verification "
        "page. Terrible website.",
    ),
    (
        "negative",
        "website",
        "The site crashed right after I submitted and now I have no idea if it "
        "went through. Awful.",
    ),
    ("negative", "staff", "The agent was rude and did not listen to me."),
    ("negative", "staff", "{staff} was dismissive and gave me wrong information about {service}."),
    ("negative", "staff", "Nobody at the {office} seemed to know the rules. Very disappointing."),
    (
        "negative",
        "form",
        "{form} is confusing and the instructions contradict the website. Bad design.",
    ),
    (
        "negative",
        "form",
        "The forms are confusing and far too complicated. I had to ask for help twice.",
    ),
    ("negative", "form", "Confusing paperwork, unclear instructions and nobody to ask. Poor."),
    (
        "negative",
        "outcome",
        "My problem with {service} is still not resolved after {weeks} weeks. Very disappointed.",
    ),
    ("negative", "outcome", "I gave up. Nobody could help me and I wasted the whole day. Awful."),
    ("negative", "outcome", "Still waiting for {service}. Bad service."),
    ("negative", "outcome", "They closed my case without fixing anything. Awful."),
    ("negative", "general", "Terrible experience."),
    ("negative", "general", "Very poor service from {agency}, sadly."),
    ("negative", "general", "Horrible. Just horrible."),
    ("negative", "general", "The worst government service I have ever dealt with."),
    # neutral
    ("neutral", "general", "I called about {service}."),
    ("neutral", "website", "Checked the status of {service} online."),
    ("neutral", "form", "Question about {form}."),
    ("neutral", "staff", "Visited the {office} to drop off documents."),
    ("neutral", "general", "I needed to update my address for {service}."),
    ("neutral", "outcome", "Called to ask about {service}. They said to wait for a letter."),
    ("neutral", "form", "Submitted {form} through the {channel}."),
    ("neutral", "general", "Asked about the documents required for {service}."),
    ("neutral", "general", "N/A"),
    ("neutral", "general", "No comment."),
    ("neutral", "outcome", "They told me to call back next week."),
    ("neutral", "general", "Please send the decision letter by email instead of by mail."),
    ("neutral", "wait", "Waited about {short_wait}. Got the form I needed."),
    ("neutral", "general", "Llamé para preguntar sobre mi caso."),
    ("neutral", "form", "Necesito ayuda con {form}."),
    ("neutral", "general", "My case number is in the letter I received."),
    ("neutral", "outcome", "Case {case_hint} is pending review according to the agent."),
    ("neutral", "wait", "Took {days} days to hear back."),
    # mixed
    ("mixed", "wait", "The staff were nice, but the wait of {long_wait} was too long."),
    (
        "mixed",
        "transfer",
        "Good help once I got through, but I was transferred {transfers} times first.",
    ),
    ("mixed", "website", "The website is easy to use, but the upload page failed twice."),
    ("mixed", "form", "{staff} was helpful, but {form} is still confusing."),
    (
        "mixed",
        "outcome",
        "Fast answer, though the letter I got afterwards said something different.",
    ),
    (
        "mixed",
        "wait",
        "The online form was fine, but nobody told me how long {service} would take.",
    ),
    ("mixed", "staff", "Friendly people at the {office}, terrible parking and a long line."),
    ("mixed", "outcome", "It worked in the end, but it took {weeks} weeks and {attempts} calls."),
    ("mixed", "staff", "The agent was polite but could not answer my question about {service}."),
    ("mixed", "general", "Better than last year, still slow."),
    ("mixed", "website", "Nice {channel}, but it does not show where {service} stands."),
    ("mixed", "transfer", "Helpful specialist in the end, annoying runaround to reach them."),
)

TEMPLATE_SLOTS: tuple[tuple[str, ...], ...] = tuple(
    tuple(sorted({name for _, name, _, _ in string.Formatter().parse(text) if name}))
    for _, _, text in TEMPLATES
)
TEMPLATES_BY: dict[tuple[str, str], list[int]] = {}
for _index, (_sentiment, _topic, _) in enumerate(TEMPLATES):
    TEMPLATES_BY.setdefault((_sentiment, _topic), []).append(_index)

STAFF = (
    "the agent",
    "the representative",
    "the lady at the front desk",
    "the gentleman who answered",
    "Ms. Johnson",
    "Mr. Alvarez",
    "Ms. Nguyen",
    "Mr. Okafor",
    "the caseworker",
    "the chat agent",
    "the officer at window {window}",
)
SHORT_WAITS = (
    "5 minutes",
    "ten minutes",
    "about 15 minutes",
    "under 20 minutes",
    "2 minutes",
    "twelve minutes",
)
LONG_WAITS = (
    "2 hours",
    "over an hour",
    "three hours",
    "90 minutes",
    "45 minutes",
    "almost four hours",
    "an hour and a half",
)
CHANNEL_PHRASES: dict[Channel, tuple[str, ...]] = {
    Channel.WEB: ("website", "online portal", "online account"),
    Channel.MOBILE_APP: ("mobile app", "app"),
    Channel.PHONE: ("phone line", "call center"),
    Channel.CHAT: ("online chat", "chat"),
    Channel.EMAIL: ("email support", "secure message center"),
    Channel.MAIL: ("mail-in process", "paper form"),
    Channel.IN_PERSON: ("office visit", "appointment system"),
    Channel.SOCIAL: ("social media team", "help account"),
}
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

COMMENT_TOPIC_BASE = {
    "wait": 0.6,
    "transfer": 0.1,
    "website": 0.2,
    "staff": 0.3,
    "form": 0.7,
    "outcome": 1.0,
    "general": 1.0,
}
