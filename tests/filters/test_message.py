"""The parsed message view: decoding, odd MIME, bounds, and parse errors that become held findings."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest

from filters import message as message_module
from filters.base import Action, Direction, Role
from filters.message import decode_bytes, decode_header_value, html_to_text
from filters.policy import PARSE_ERROR_CODE, Policy
from tests.factories import SCHOOL_DOMAIN, make_message, make_settings, make_view, write_directory

DATA = Path(__file__).resolve().parents[1] / "data" / "mime"


def view_of(raw: bytes, **kwargs):
    return make_view(raw, **kwargs)


def eml(name: str) -> bytes:
    return (DATA / name).read_bytes()


def with_line_endings(raw: bytes, ending: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", ending)


# --- headers ------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("=?utf-8?q?Ren=C3=A9e_Dupont?=", "Renée Dupont"),
    ("=?iso-8859-1?B?Q2Fm6Q==?=", "Café"),
    ("=?utf-8?B?w6lsw6h2ZXM=?= =?utf-8?B?IGRlIDVl?=", "élèves de 5e"),  # whitespace between words dropped
    ("=?utf-8?B?4oCc?==?utf-8?B?cXVvdGVk4oCd?=", "\u201cquoted\u201d"),
    ("=?utf-8?B?8J+Y?= =?utf-8?B?gA==?=", "\U0001f600"),  # one character split across two words
    ("Re: =?gb2312?B?xOO6ww==?= there", "Re: 你好 there"),
    ("=?x-no-such?Q?caf=C3=A9?=", "café"),  # unknown charset: the bytes are still read
    ("=?utf-8?B?not base64!!?=", "=?utf-8?B?not base64!!?="),
    ("=?utf-8*en?Q?hello?=", "hello"),  # RFC 2231 language suffix
    ("plain\r\n continued", "plain continued"),
    ("raw caf\udcc3\udca9", "raw café"),  # 8-bit UTF-8 kept by the parser as surrogates
    (None, ""),
])
def test_decode_header_value(raw, expected: str) -> None:
    assert decode_header_value(raw) == expected


@pytest.mark.parametrize("data, charset, expected", [
    ("naïve".encode("utf-8"), "us-ascii", "naïve"),
    ("naïve".encode("latin-1"), "us-ascii", "naïve"),
    ("naïve".encode("latin-1"), "utf-8", "naïve"),
    ("“smart” quotes".encode("cp1252"), "iso-8859-1", "“smart” quotes"),
    ("你好".encode("gbk"), "gb2312", "你好"),
    ("hello".encode("utf-8"), "x-bogus-charset", "hello"),
    ("κείμενο".encode("utf-8"), None, "κείμενο"),
    (b"", "utf-8", ""),
])
def test_decode_bytes_never_fails(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_bytes(data, charset) == expected


def test_html_to_text_drops_script_and_keeps_blocks() -> None:
    text = html_to_text("<html><head><style>p{}</style></head><body><p>One</p><script>evil()</script>"
                        "<div>Two &amp; three</div></body></html>")
    assert text.split() == ["One", "Two", "&", "three"]


# --- MIME files under tests/data/mime --------------------------------------------

@pytest.mark.parametrize("name, body_snippets, attachments", [
    ("rfc2231_filename.eml", ["signed consent form"],
     [("consent form – Rémy.pdf", "application/pdf"), ("élèves de 5e.docx", None)]),
    ("missing_boundary.eml", ["homework is due on Monday"], [("run.exe", "application/x-msdownload")]),
    ("uuencoded_body.eml", ["Here is the file you asked for.", "Regards, the technician."],
     [("tool.exe", "application/x-msdownload")]),
    ("forwarded.eml", ["See the parent's complaint below.", "Complaint about the trip", "two hours late"],
     [("timeline.csv", None)]),
    ("delivery_status.eml", ["could not be delivered", "550 5.1.1 user unknown"], []),
    ("broken_charsets.eml", ["The café opens at 8.", "Latin-1 naïve text."], [("menü.csv", None)]),
])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_mime_samples(name: str, body_snippets: list[str], attachments: list, ending: bytes) -> None:
    view = view_of(with_line_endings(eml(name), ending))
    assert view.parse_error == ""
    for snippet in body_snippets:
        assert snippet in view.all_text
    assert [a.filename for a in view.attachments] == [name for name, _ in attachments]
    for attachment, (_, sniffed) in zip(view.attachments, attachments):
        if sniffed:
            assert attachment.sniffed_type == sniffed


def test_uuencoded_block_becomes_an_attachment_and_leaves_the_text() -> None:
    view = view_of(eml("uuencoded_body.eml"))
    [tool] = view.attachments
    assert tool.data.startswith(b"MZ") and b"This program cannot be run in DOS mode." in tool.data
    assert "begin 644" not in view.body_text
    assert "[uuencoded attachment: tool.exe]" in view.body_text


def test_forwarded_message_attachment_is_opened_with_depth() -> None:
    view = view_of(eml("forwarded.eml"))
    [csv_file] = view.attachments
    assert csv_file.depth == 1
    assert "11:00\tcoach arrived" in csv_file.text
    assert "coach arrived" in view.all_text


def test_raw_utf8_headers_and_filenames_do_not_break_the_parser() -> None:
    view = view_of(eml("broken_charsets.eml"))
    assert view.subject == "Café menu – raw UTF-8 in a header"
    assert view.from_name == "Renée"
    assert view.header("subject") == view.subject


def test_base64_encoded_message_rfc822_is_opened() -> None:
    inner = make_message("Inner secret words", subject="Inner subject")
    raw = (b"From: a@example.com\nTo: b@example.com\nSubject: wrapped\nMIME-Version: 1.0\n"
           b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
           + base64.encodebytes(inner))
    view = view_of(raw)
    assert "Inner secret words" in view.body_text
    assert "Inner subject" in view.body_text


def test_alternative_parts_saying_the_same_are_not_doubled_but_different_ones_are_kept() -> None:
    same = view_of(make_message("Trip on Friday.", html="<p>Trip on <b>Friday</b>.</p>"))
    assert same.body_text.count("Friday") == 1
    assert [p.from_html for p in same.text_parts] == [True]
    hidden = view_of(make_message("Nothing to see.", html="<p>Meet me after school, alone.</p>"))
    assert "Nothing to see." in hidden.body_text and "Meet me after school" in hidden.body_text


# --- bounds and parse errors -------------------------------------------------------

def nested_multipart(depth: int, text: str = "bottom text") -> bytes:
    body = f"Content-Type: text/plain\n\n{text}\n"
    for level in range(depth):
        body = (f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n{body}--b{level}--\n')
    return b"From: a@example.com\nTo: b@example.com\nSubject: nested\nMIME-Version: 1.0\n" + body.encode()


def many_parts(count: int) -> bytes:
    parts = "".join(f"--p\nContent-Type: text/plain\n\npart {i}\n" for i in range(count))
    return (b"From: a@example.com\nSubject: parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=p\n\n"
            + parts.encode() + b"--p--\n")


@pytest.mark.parametrize("raw, error_contains", [
    (nested_multipart(20), ""),
    (nested_multipart(message_module.MAX_MULTIPART_DEPTH + 5), "nested more than"),
    (nested_multipart(3000), "nested"),  # the stdlib parser itself gives up (RecursionError)
    (many_parts(50), ""),
    (many_parts(message_module.MAX_PARTS + 10), "MIME parts"),
])
def test_bounds_turn_unread_content_into_a_parse_error(raw: bytes, error_contains: str) -> None:
    view = view_of(raw)
    if error_contains:
        assert error_contains in view.parse_error
    else:
        assert view.parse_error == ""
        assert view.body_text


def test_nested_forwards_are_opened_to_the_limit() -> None:
    raw = make_message("innermost words")
    for _ in range(message_module.MAX_NESTING + 1):
        raw = make_message("wrapper", attachments=[("fwd.eml", "message/rfc822", raw)])
    view = view_of(raw)
    assert "forwarded messages nested" in view.parse_error


@pytest.mark.parametrize("raw", [
    b"",
    b"\n",
    b"no headers at all, just text",
    b"\x00\x01\x02\xff\xfe" * 100,
    b"Subject: " + b"A" * 200_000 + b"\n\nbody",
    b"".join(b"Received: from host%d\n" % i for i in range(5_000)) + b"\nbody after many headers",
    b"Content-Type: multipart/mixed; boundary=\"" + b"x" * 30_000 + b"\"\n\n--" + b"x" * 30_000 + b"\n\nhi\n",
    b"Content-Type: text/plain; charset=\"\xff\xfe\"\n\nbody",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\n--b--\n",
    b"Content-Type: application/pdf; name*0*=bogus''%ZZ%\nContent-Transfer-Encoding: base64\n\n!!!",
    b"Content-Transfer-Encoding: x-uuencode\nContent-Type: application/octet-stream\n\nbegin 644 a\ngarbage\n",
])
def test_hostile_input_builds_a_view_without_raising(raw: bytes) -> None:
    view = view_of(raw)
    assert view.sha256 and view.raw == raw


def test_huge_header_is_bounded_in_the_view() -> None:
    view = view_of(b"Subject: " + b"A" * 200_000 + b"\n\nbody")
    assert len(view.subject) == message_module.MAX_HEADER_CHARS
    view = view_of(b"".join(b"X-Junk: %d\n" % i for i in range(5_000)) + b"\nbody")
    assert len(view.headers) == message_module.MAX_HEADERS
    assert view.body_text.strip() == "body"


async def test_parse_error_view_is_held_with_a_parse_error_finding() -> None:
    view = view_of(many_parts(message_module.MAX_PARTS + 10))
    verdict = Policy(make_settings()).decide(view, [])
    assert PARSE_ERROR_CODE in verdict.codes
    assert verdict.action == Action.HOLD


# --- envelope, roles, direction ------------------------------------------------------

def test_roles_and_direction_come_from_the_directory(tmp_path: Path) -> None:
    csv_path = write_directory(tmp_path / "people.csv", [
        (f"jane.smith@{SCHOOL_DOMAIN}", "staff", "Jane Smith", "janesmith84@gmail.com"),
        (f"amy.pond@{SCHOOL_DOMAIN}", "student", "Amy Pond", ""),
    ])
    settings = make_settings(tmp_path, directory={"csv": str(csv_path)})
    view = make_view(make_message("hi", sender=f"Jane Smith <jane.smith@{SCHOOL_DOMAIN}>",
                                  to=f"Amy <amy.pond@{SCHOOL_DOMAIN}>, Jane <janesmith84@gmail.com>"),
                     mail_from=f"jane.smith@{SCHOOL_DOMAIN}",
                     rcpt_to=(f"amy.pond@{SCHOOL_DOMAIN}", "janesmith84@gmail.com"), settings=settings)
    assert view.sender.role == Role.STAFF and view.sender.name == "Jane Smith"
    assert [(r.role, r.internal) for r in view.recipients] == [(Role.STUDENT, True), (Role.EXTERNAL, False)]
    assert view.recipients[1].name == "Jane"
    assert view.direction == Direction.OUTBOUND
    assert view.direction_for(view.recipients[0]) == Direction.INTERNAL


@pytest.mark.parametrize("trusted,direction,role,internal", [
    (True, Direction.INTERNAL, Role.STAFF, True),
    # anyone can type a school address: from outside it is inbound, never under staff rules
    (False, Direction.INBOUND, Role.EXTERNAL, False),
])
def test_direction_comes_from_the_clients_trust_not_the_claimed_sender(
        tmp_path: Path, trusted: bool, direction: Direction, role: Role, internal: bool) -> None:
    from filters.directory import Directory
    from filters.message import Envelope, build_view
    csv_path = write_directory(tmp_path / "people.csv", [
        (f"jane.smith@{SCHOOL_DOMAIN}", "staff", "Jane Smith", ""),
        (f"amy.pond@{SCHOOL_DOMAIN}", "student", "Amy Pond", "")])
    directory = Directory(csv_path, {}, (SCHOOL_DOMAIN,))
    raw = make_message("hi", sender=f"Jane Smith <jane.smith@{SCHOOL_DOMAIN}>", to=f"amy.pond@{SCHOOL_DOMAIN}")
    envelope = Envelope(f"jane.smith@{SCHOOL_DOMAIN}", (f"amy.pond@{SCHOOL_DOMAIN}",), "203.0.113.9", "x",
                        client_trusted=trusted)
    view = build_view(raw, envelope, directory)
    assert view.direction == direction
    assert (view.sender.role, view.sender.internal) == (role, internal)
    assert view.direction_for(view.recipients[0]) == direction
    assert view.envelope.mail_from == f"jane.smith@{SCHOOL_DOMAIN}"  # the claim itself is kept


def test_envelope_without_a_client_is_trusted_as_scan_treats_it() -> None:
    from filters.message import Envelope
    assert Envelope("a@b", ("c@d",)).client_trusted is True


def test_content_type_missing_its_semicolon_is_still_text() -> None:
    raw = (b"From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
           b"Content-Type: text/plain\n   charset=\"utf-8\"\n\nThe body text.\n--b--\n")
    view = view_of(raw)
    assert view.body_text.strip() == "The body text."
    assert view.attachments == ()


def _part_filename_plain(part) -> str:
    """part_filename without its "no name in the headers" short cut: the stdlib look-ups alone."""
    import email.utils
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        try:
            name = part.get_param("name")
            if isinstance(name, tuple):
                name = email.utils.collapse_rfc2231_value(name)
        except Exception:
            name = None
    if not name:
        return ""
    return decode_header_value(name).strip().strip('"').strip()


@pytest.mark.parametrize("headers", [
    "Content-Type: text/plain; charset=utf-8",
    "Content-Type: application/pdf; NAME=\"Report.pdf\"",
    "Content-Type: application/pdf\nContent-Disposition: attachment; FileName=report.pdf",
    "Content-Type: application/pdf\nContent-Disposition: attachment; filename*0*=utf-8''r%C3%A9; filename*1=sum.pdf",
    "Content-Type: application/octet-stream; name*=utf-8''%E2%80%AEfdp.exe",
    "Content-Type: application/pdf; name==?utf-8?b?w6lsw6h2ZS5wZGY=?=",
    "Content-Type: text/plain\nContent-Disposition: inline",
    "Content-Type: text/plain; x-name-hint=1",
    "Content-Type: text/plain; charset=\"name\"",
    "Content-Disposition: attachment; filename=",
    "Content-Type: image/png; name=\"a;b.png\"\nContent-Type: text/plain",
])
def test_part_filename_short_cut_equals_the_stdlib_lookups(headers: str) -> None:
    from email import message_from_bytes
    part = message_from_bytes(f"{headers}\n\nbody\n".encode(), policy=message_module._POLICY)
    assert message_module.part_filename(part) == _part_filename_plain(part)


def test_part_filename_short_cut_on_the_corpora() -> None:
    """Every part of every corpus message: the same name with and without the short cut."""
    from email import message_from_bytes
    from tests.filters.test_corpus_parse import corpus_messages, needs_corpora
    needs_corpora()
    parts = named = 0
    for _name, raw in corpus_messages():
        for part in message_from_bytes(raw, policy=message_module._POLICY).walk():
            plain = _part_filename_plain(part)
            assert message_module.part_filename(part) == plain, _name
            parts += 1
            named += bool(plain)
    assert parts > 3000 and named > 100


# --- the feed parser with its end-of-line search from the tail -------------------------

def _tree(message) -> list:
    """Everything the parse gives a message, part by part (what the view is built from)."""
    out = []
    for part in message.walk():
        payload = part.get_payload()
        out.append((list(part.raw_items()), [type(d).__name__ for d in part.defects], part.preamble,
                    part.epilogue, payload if isinstance(payload, str) else len(payload)))
    return out


def test_tail_end_of_line_is_the_full_search() -> None:
    import random
    from email.feedparser import NLCRE_eol
    tail = message_module._TailEndOfLine(NLCRE_eol)
    rng = random.Random(19)
    for _ in range(20_000):
        text = "".join(rng.choice(["a", "\r", "\n", "\r\n", " ", "é"]) for _ in range(rng.randrange(0, 8)))
        full, fast = NLCRE_eol.search(text), tail.search(text)
        assert (full and (full.span(), full.group(0))) == (fast and (fast.span(), fast.group(0))), repr(text)


def test_message_from_bytes_is_the_stdlibs_on_the_corpora() -> None:
    """Every corpus message and every MIME test file: the same headers, defects, preambles,
    epilogues and payloads as email.message_from_bytes gives."""
    import email
    from tests.filters.test_corpus_parse import corpus_messages, needs_corpora
    assert message_module._FeedParser._parsegen is not email.feedparser.FeedParser._parsegen  # in use here
    needs_corpora()
    checked = 0
    samples = [(path.name, path.read_bytes()) for path in DATA.glob("*.eml")]
    for name, raw in [*samples, *corpus_messages()]:
        for ending in (b"\n", b"\r\n"):
            data = with_line_endings(raw, ending)
            ours = _tree(message_module.message_from_bytes(data))
            assert ours == _tree(email.message_from_bytes(data, policy=message_module._POLICY)), name
            checked += 1
    assert checked > 6000


# --- the From header's plain forms ---------------------------------------------------

@pytest.mark.parametrize("value", [
    "Example Academy Office <office@example.sch.uk>", "a@b.c", "<a@b.c>", "  Jo  \t Bloggs   <j.b@x.co.uk>  ",
    "Jo <a..b@c.d>", "x <a@b>", '"Q" <a@b.c>', "a@b.c (comment)", "Jo Bloggs<a@b.co>", "A <a@b.c> B", "",
    "<>", "a.@b.c", "J <-a@-b.c>", "name <a_b+c@d-e.f>", "123 <1@2.3>", "Mrs. J <j@x.y>", "A, B <a@b.c>",
])
def test_parse_from_is_parseaddr(value: str) -> None:
    from email.utils import parseaddr
    assert message_module.parse_from(value) == parseaddr(value)


def test_parse_from_is_parseaddr_on_generated_headers() -> None:
    import random
    from email.utils import parseaddr
    rng = random.Random(19)

    def word(chars: str, most: int) -> str:
        return "".join(rng.choice(chars) for _ in range(rng.randint(1, most)))

    def blank() -> str:
        return rng.choice(["", " ", "  ", "\t", " \t "])

    plain = 0
    for _ in range(20_000):
        address = word("ab0_+-.", 6) + "@" + word("ab0-.", 5) + rng.choice(["", ".", ".c", ".co.uk", "..x"])
        name = " ".join(word("Ab0", 5) for _ in range(rng.randint(0, 3)))
        value = blank() + (f"{name}{blank()}<{address}>" if rng.random() < 0.7 else address) + blank()
        plain += message_module._PLAIN_FROM.fullmatch(value) is not None
        assert message_module.parse_from(value) == parseaddr(value), value
    assert plain > 2000  # the fast path was taken, not only the fallback


# --- html_to_text's fast start tag and position keeping -------------------------------

def _html_events(parser_class, html: str):
    """Every handler call the parser makes, and how it ended (an exception's type)."""
    class Recording(parser_class):
        def __init__(self) -> None:
            super().__init__()
            self.events: list[tuple] = []

        def handle_starttag(self, tag, attrs):
            self.events.append(("start", tag))
            super().handle_starttag(tag, attrs)

        def handle_endtag(self, tag):
            self.events.append(("end", tag))
            super().handle_endtag(tag)

        def handle_data(self, data):
            self.events.append(("data", data))
            super().handle_data(data)

        def handle_comment(self, data):
            self.events.append(("comment", data))

        def handle_decl(self, decl):
            self.events.append(("decl", decl))

        def handle_pi(self, data):
            self.events.append(("pi", data))

        def unknown_decl(self, data):
            self.events.append(("unknown", data))

    parser = Recording()
    try:
        parser.feed(html)
        parser.close()
        ended = None
    except Exception as exc:  # noqa: BLE001 - compared, both must raise alike
        ended = type(exc).__name__
    return parser.events, ended, "".join(parser.chunks), parser.cdata_elem


def _stdlib_text_parser():
    import _markupbase
    from html.parser import HTMLParser

    class Stdlib(message_module._HTMLText):
        parse_starttag = HTMLParser.parse_starttag
        parse_endtag = HTMLParser.parse_endtag
        updatepos = _markupbase.ParserBase.updatepos
    return Stdlib


_HTML_PIECES = ["<", ">", "/", "/>", "=", '"', "'", " ", "\n", "\t", "a", "P", "div", "br", "script",
                "style", "</script>", "</style", "&amp;", "&", "#", "x41;", "&#", "<!--", "-->", "<!",
                "<?", "href", "x=", "=\"v>\"", "'q'", "\x00", "é", "<p", "<a ", "</", "<br/>", "<![CDATA[",
                # bare tags, the short cut's own ground (and its near misses)
                "<p>", "</p>", "<P>", "</P >", "<b/>", "<br />", "<script>", "<style>", "</SCRIPT>", "</a.b:c_d-e>",
                "<td\x0b>", "<a\">", "</ p>", "</1>", "<1>", "<x/y>", "</p/>", "<p\u2003>", "</p\t>"]


def test_fast_start_tag_is_the_stdlibs() -> None:
    """The fast start and end tags are in use here, and give the same calls, end state and text
    as the stdlib's parse_starttag, parse_endtag and updatepos on random tag soup."""
    import random
    assert message_module._HTMLText.parse_starttag is message_module._HTMLText._fast_starttag
    assert message_module._HTMLText.parse_endtag is message_module._HTMLText._fast_endtag
    stdlib = _stdlib_text_parser()
    rng = random.Random(19)
    for _ in range(20_000):
        html = "".join(rng.choice(_HTML_PIECES) for _ in range(rng.randrange(1, 40)))
        assert _html_events(message_module._HTMLText, html) == _html_events(stdlib, html), repr(html)


def test_fast_start_tag_on_the_corpora() -> None:
    """Every HTML part of every corpus message: the same calls and text as the stdlib's."""
    import email
    from tests.filters.test_corpus_parse import corpus_messages, needs_corpora
    needs_corpora()
    stdlib = _stdlib_text_parser()
    checked = 0
    for name, raw in corpus_messages():
        for part in email.message_from_bytes(raw).walk():
            if part.get_content_type() != "text/html":
                continue
            payload = part.get_payload(decode=True) or b""
            html = message_module.decode_bytes(payload, part.get_content_charset())
            assert _html_events(message_module._HTMLText, html) == _html_events(stdlib, html), name
            checked += 1
    assert checked > 100


def test_blank_runs_become_one_space_as_before() -> None:
    """html_to_text's blank pattern leaves a lone space alone: the same text as replacing
    every run of blanks, on random strings over blanks, letters and other whitespace."""
    import random
    import re
    plain = re.compile(r"[ \t\r\f\v]+")
    rng = random.Random(5)
    for _ in range(50_000):
        text = "".join(rng.choice(" \t\r\f\va\n\u00a0\u2003") for _ in range(rng.randrange(0, 14)))
        assert message_module._BLANKS.sub(" ", text) == plain.sub(" ", text), repr(text)
        # html_to_text skips the pattern when no blank run can be there: the same text
        expected = message_module._MANY_NEWLINES.sub("\n\n", plain.sub(" ", text)).strip()
        assert html_to_text(text) == expected, repr(text)
