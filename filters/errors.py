"""The one exception tree: every error schoolgate raises on purpose is a SchoolgateError.

Each class lives in the module that raises it; this docstring is the map. The
command line (gateway/cli.py) catches the root and prints the message as one
line per problem, exit 1, so the text of each must make sense to the person
who runs the command: name the file, the key or the id, and what to do.
Classes that are also a ValueError keep that base because code catches them
as one (a bad list file or period is a bad value).

    SchoolgateError                          filters/errors.py
    ├── ConfigError                          config/loader.py      the site file: names file and key
    ├── CliError                             gateway/cli.py        a bad command line
    ├── ReportCliError                       quarantine/report_cli.py
    ├── TrustReportError                     quarantine/trust_report_cli.py  schoolgate trust-report
    ├── StartupError                         gateway/service.py    the gateway must not start
    ├── QuickstartError                      gateway/quickstart.py scripts/serve cannot set up
    ├── DkimSigningError                     gateway/dkim_signing.py
    ├── NextHopError                         gateway/relay.py      the school's server failed us
    ├── DNSLookupError                       filters/dns_lookup.py temporary by nature
    ├── ClamdError                           filters/virus.py      no verdict from clamd
    │   ├── ClamdUnavailable                                       no connection
    │   └── ClamdTimeout                                           no answer in time
    ├── VirusSelfTestError                   filters/virus.py      EICAR not detected at start
    ├── LexiconError (ValueError)            filters/lexicon.py    a word list: file and line
    ├── DirectoryError (ValueError)          filters/directory.py  the directory CSV: file and line
    ├── DirectorySyncError                   gateway/directory_sync.py  LDAP, Graph, Google, MIS export
    ├── PeriodError (ValueError)             quarantine/report_data.py
    ├── StoreError                           quarantine/store.py   unknown id, nothing to release
    ├── SchemaVersionError                   quarantine/schema.py  run `schoolgate db upgrade`
    ├── CountersUnavailable                  quarantine/redis_counters.py  Redis down or refusing
    ├── ReleaseError                         quarantine/review.py  nothing was released
    ├── CaseError (ValueError)               quarantine/cases.py   a bad case status or verdict
    ├── UserError                            quarantine/users.py   a review account
    ├── SsoError                             quarantine/web/oidc.py  a single sign-on that failed
    ├── LinkError                            quarantine/links.py   a forged or expired mail link
    ├── HashListError (ValueError)           filters/image_hash.py [images] hash_list: file and line
    ├── ImageDecodeError                     filters/image_hash.py an image not decoded (reported unchecked)
    ├── NudityModelError                     filters/nudity.py     the nudity classifier cannot run
    ├── ProfanityModelError                  filters/profanity_model.py  the profanity model's artifact
    └── EscalationError                      quarantine/escalation.py  the tree cannot run as configured

Library errors (OSError, pydantic's ValidationError, aiosmtplib's) are caught
where they happen and turned into one of these, never shown as a traceback.
"""
from __future__ import annotations


class SchoolgateError(Exception):
    """The root: a problem schoolgate recognised and can explain in one line."""
