"""Every mail file under ../shared/corpora builds a view (or a parse_error view), and text is not lost.

About 3,500 messages; the whole walk takes a few seconds (bench/parse_cost.py
prints the cost per message).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Iterator

import pytest

from filters.directory import Directory
from filters.extract import AttachmentExtractor
from filters.message import Envelope, MessageView, build_view
from tests.factories import CORPORA, SCHOOL_DOMAIN

# The corpora folders holding mail (each README says which files are messages).
MAIL_FOLDERS = (
    "mail-bounces-sisimai", "mime-testsuite-mime4j", "mime-samples-stalwart", "mime-samples-crymap",
    "python-email-testdata", "mail-samples-spamscope", "spamassassin-public-corpus-sample",
    "clamav-testfiles-mail", "chain-letters-spamassassin",
)
# Documentation and licences in those folders; everything else there is mail.
NOT_MAIL = {"README.md", "README.txt", "LICENSE.txt", "COPYING.txt", "ARTISTIC-LICENSE.txt"}
# Unix mbox files holding several messages, split on "From " separator lines.
MBOX_FILES = {"mail-bounces-sisimai/mailbox/mbox-0", "mail-bounces-sisimai/mailbox/mbox-1"}
_MBOX_SEPARATOR = re.compile(rb"(?:^|\n)(?=From \S+.*\n)")


def mail_files(root: Path = CORPORA) -> list[Path]:
    return [path for folder in MAIL_FOLDERS for path in sorted((root / folder).rglob("*"))
            if path.is_file() and path.name not in NOT_MAIL and path.suffix != ".csv"]


def corpus_messages(root: Path = CORPORA) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of every message; mbox files give one item per message."""
    for path in mail_files(root):
        rel = path.relative_to(root).as_posix()
        data = path.read_bytes()
        if rel in MBOX_FILES:
            chunks = [c for c in _MBOX_SEPARATOR.split(data) if c.strip()]
            for number, chunk in enumerate(chunks, start=1):
                yield f"{rel}#{number}", chunk
        else:
            yield rel, data


def needs_corpora() -> None:
    if not all((CORPORA / folder).is_dir() for folder in MAIL_FOLDERS):
        pytest.skip(f"mail corpora not found under {CORPORA} (../shared/corpora); corpus parse test skipped")


@pytest.fixture(scope="module")
def views() -> dict[str, MessageView]:
    needs_corpora()
    directory = Directory(None, {}, (SCHOOL_DOMAIN,))
    envelope = Envelope("sender@example.com", (f"pupil@{SCHOOL_DOMAIN}",), "192.0.2.1", "test")
    extractor = AttachmentExtractor()
    built: dict[str, MessageView] = {}
    for name, raw in corpus_messages():
        # build_view's contract: never raises. An exception here fails the test.
        built[name] = build_view(raw, envelope, directory, extractor=extractor, message_id=name)
    return built


def test_every_corpus_message_builds_a_view(views: dict[str, MessageView]) -> None:
    assert len(views) > 3_400
    for name, view in views.items():
        assert isinstance(view, MessageView), name
        assert isinstance(view.all_text, str), name
        assert view.parse_error or view.all_text or view.attachments or len(view.raw) < 4 or view.headers, name


def test_mbox_files_are_split(views: dict[str, MessageView]) -> None:
    parts = [name for name in views if name.startswith("mail-bounces-sisimai/mailbox/mbox-0#")]
    assert len(parts) > 10


def test_no_corpus_message_is_a_parse_error(views: dict[str, MessageView]) -> None:
    """The corpora are odd but readable: every one is read within the bounds."""
    errors = {name: view.parse_error for name, view in views.items() if view.parse_error}
    assert errors == {}


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name, sentence", [
    ("spamassassin-public-corpus-sample/easy-ham-1/00003.860e3c3cee1b42ead714c5c874fe25f7.eml",
     "Security officers on Thursday seized an unidentified man"),
    ("chain-letters-spamassassin/positives/spam-1_00036.256602e2cb5a5b373bdd1fb631d9f452.eml",
     "The Internet population is rapidly approaching"),  # HTML part
    ("mime-samples-crymap/torture-test.eml", "STAR TREK 25TH ANNIVERSARY PARTY"),  # nested forwards
    ("mime-samples-crymap/torture-test.eml", "You should be able to read this, no matter where you are."),
    ("mail-bounces-sisimai/maildir/mac/lhost-postfix-01.eml",  # CR-only line endings
     "I'm sorry to have to inform you that your message could not be delivered"),
    ("mail-bounces-sisimai/maildir/dos/lhost-postfix-01.eml",  # CRLF
     "I'm sorry to have to inform you that your message could not be delivered"),
    ("python-email-testdata/msg_02.txt", "[Ppp] testing #3"),  # digest of forwarded messages
    ("mime-testsuite-mime4j/testmsgs/base64encoded-rfc822message.msg", "Text body"),
])
def test_known_sentences_are_in_the_text(views: dict[str, MessageView], name: str, sentence: str) -> None:
    assert squash(sentence) in squash(views[name].all_text)


@pytest.mark.parametrize("name", [
    "clamav-testfiles-mail/clam.mail.eml",
    "clamav-testfiles-mail/clam.exe.mbox.base64.mbox",
    "clamav-testfiles-mail/clam.exe.mbox.uu.mbox",  # x-uuencode with a truncated "end" line
])
def test_clam_exe_is_decoded_byte_exact(views: dict[str, MessageView], name: str) -> None:
    [attachment] = views[name].attachments
    # MD5 and size of clam.exe as given in the corpus README's local.hdb line
    assert (hashlib.md5(attachment.data).hexdigest(), attachment.size) == ("aa15bcf478d165efd2065190eb473bcb", 544)
    assert attachment.sniffed_type == "application/x-msdownload"


def test_forwarded_attachments_keep_their_depth(views: dict[str, MessageView]) -> None:
    torture = views["mime-samples-crymap/torture-test.eml"]
    assert max(a.depth for a in torture.attachments) >= 3
    assert any(a.filename == "Alices_PDP-10" and "Alice's PDP-10" in a.text for a in torture.attachments)
