"""Secrets in command lines (passwords, keys, tokens, connection strings) masked for display
and export: ``--redact``.

Each shape in ``SHAPES`` is a regular expression whose group 1 is the context kept and
group 2 the secret masked, with a check that the value can be a secret: after a short flag
such as ``-p`` a number (a PID, a port), a path or another flag is evidence, not a secret.
Every match is taken on the original text and the spans are merged before masking, so a
shape never reads another's mask and redacting twice gives what redacting once did. Event
text is attacker-controlled: patterns start only at a boundary, scan a bounded window of
tokens for their context and never nest ambiguous quantifiers (linear on a 1 MB line).
More patterns can be added (``--redact-pattern``), each with two groups; theirs is masked
unchecked."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

from proctrail.store.errors import UsageError

MASK = "********"

Check = Callable[[str], bool]

_PATH = re.compile(r"[A-Za-z]:[\\/]|[\\/]|\.{1,2}[\\/]|~[\\/]")
_NUMBER = re.compile(r"(?i)0x[0-9a-f]+|\d+")


def _value(text: str) -> bool:
    """Can be a secret: not empty, a prompt (``*``), a flag (``-s``, ``/x``), a path or an
    expression (``(ConvertTo-SecureString ...``, ``$(cat f)``)."""
    return (bool(text) and text != "*" and not text.startswith(("-", "(", "$(", "@("))
            and not _PATH.match(text))


def _short(text: str) -> bool:
    """A value after a one-letter flag: also not a number (a PID, a port)."""
    return _value(text) and not _NUMBER.fullmatch(text)


def _not_property(text: str) -> bool:
    """``/p:`` is also MSBuild's property switch (``/p:Configuration=Release``)."""
    return _value(text) and "=" not in text


# A value: quoted, or bare up to a space or a quote (a quote between word characters is
# part of it), or an unclosed quote's rest. Left boundary: start, space, quote or paren.
_V = r"""(?:"[^"]*"|'[^']*'|(?:[^\s"']|(?<=\w)["'](?=\w))++|["'][^\s"']++)"""
_B = r"""(?<![^\s"'(])"""


def _after(tools: str, flag: str, window: int = 64) -> str:
    """``flag VALUE`` within ``window`` tokens after one of ``tools`` (a command name)."""
    return (rf"""((?i:(?<![\w.-])(?:{tools})(?:\.exe|\.cmd|\.py)?["']?)"""
            rf"(?:\s++\S++){{0,{window}}}?\s+{flag})({_V})")


class Shape(NamedTuple):
    name: str
    pattern: str  # group 1 kept, group 2 masked
    check: Check | None = None  # the secret (quotes stripped) is one


_PSEXEC = (r"psexec|psexec64|paexec|paexec64|sshpass|crackmapexec|cme|nxc|netexec|evil-winrm"
           r"|smbmap|rdesktop|hydra|useradd|usermod|(?:docker|podman|nerdctl|az)(?:\.exe|\.cmd)?"
           r"\s+login")
_ATTACHED_P = (r"mysql|mysqldump|mysqladmin|mysqlimport|mysqlshow|mysqlcheck|mysqlpump|mysqlsh"
               r"|mariadb|mariadb-dump|7z|7za|7zr|7zz|7zg|rar|unrar|winrar")
_NAMED = (r"password|passwd|pass|pwd|pw|passphrase|secret|token|api-?key|access-key|secret-key"
          r"|account-key|bearer")
_ENV = (r"(?:[A-Z0-9]+_)*(?:[A-Z0-9]*(?:PASSWORD|PASSWD|SECRET|TOKEN)|PASS|PWD|API_?KEY"
        r"|ACCESS_KEY|ACCOUNT_KEY|PRIVATE_KEY)(?:_[A-Z0-9]+)*")

SHAPES: tuple[Shape, ...] = (
    # net user NAME PASSWORD [/add] (not *, a prompt); net use [Z:] \\srv\share PASSWORD
    Shape("net user", r"""((?i:(?<![\w.-])net1?(?:\.exe)?["']?\s+user)(?:\s+/\S+)*+\s+"""
          r"""(?:"[^"]*"|[^\s/"]\S*+)(?:\s+/\S+)*+\s+)""" + f"({_V})", _value),
    Shape("net use", r"""((?i:(?<![\w.-])net1?(?:\.exe)?["']?\s+use)"""
          r"""(?:\s+(?:\*|[A-Za-z]\w{0,3}:))?\s+(?:"\\\\[^"]*"|\\\\\S+)(?:\s+/\S+)*+\s+)"""
          + f"({_V})", _value),
    # psexec -u U -p P, sshpass -p, cme/nxc/evil-winrm -p, docker login -p, az login -p
    Shape("-p after psexec-like", _after(_PSEXEC, r"-p\s+"), _short),
    Shape("-P after sqlcmd, zip", _after(r"sqlcmd|osql|bcp|isql|zip|unzip", r"-P\s+"), _short),
    Shape("ssh-keygen -N/-P", _after(r"ssh-keygen", r"-[NP]\s+"), _value),
    Shape("-pSECRET attached", _after(_ATTACHED_P, r"-p"), _value),
    Shape("ldap -w", _after(r"ldap(?:search|modify|add|delete|whoami|passwd|compare|modrdn)",
                            r"-w\s+"), _short),
    Shape("redis-cli -a", _after(r"redis-cli", r"-a\s+"), _short),
    Shape("openssl -k", _after(r"openssl", r"-k\s+"), _short),
    Shape("schtasks /rp /p", _after(r"schtasks", r"(?i:/r?p)\s+"), _short),
    Shape("openssl pass:", rf"({_B}-pass(?:in|out)?\s+pass:)({_V})", _value),
    # curl -u user:secret, --user, --proxy-user; smbclient -U user%secret
    Shape("curl -u", r"""((?<![\w.-])(?i:curl)(?:\.exe)?["']?(?:\s++\S++){0,64}?\s+"""
          r"""(?:-u\s*|--user(?:\s+|=)|-U\s*|--proxy-user(?:\s+|=))[^\s:"']*:)"""
          r"""((?:[^\s"']|(?<=\w)["'](?=\w))++)""", _value),
    Shape("curl -u quoted", r"""((?<![\w.-])(?i:curl)(?:\.exe)?["']?(?:\s++\S++){0,64}?\s+"""
          r"""(?:-u|--user|-U|--proxy-user)(?:\s+|=)"[^\s:"]*:)([^"]+)(?=")""", _value),
    Shape("samba -U user%secret", rf"""({_B}(?:-U\s*|--user(?:name)?=)["']?[^\s%"']+%)"""
          r"""((?:[^\s"']|(?<=\w)["'](?=\w))++)""", _value),
    # impacket: example.py domain/user:secret@host
    Shape("impacket target", r"""((?i:(?<![\w.-])(?:[\w-]+\.py|impacket-[\w-]+))["']?"""
          r"""(?:\s++\S++){0,16}?\s+["']?(?:[\w.-]+/)?[\w.$-]+:)([^\s"']+)"""
          r"""(?=@[\w.-]+(?:[\s"']|$))""", _value),
    # scheme://user:secret@host (psql, mongodb, redis, ftp, git); ?sig=, &password= in URLs
    Shape("URL userinfo", r"""(?i)((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^\s/:@"']*:)"""
          r"""([^\s/"']+)(?=@[^\s/"'@?#]*(?:[\s/"'?#]|$))""", _value),
    Shape("URL query secret", r"""(?i)([?&](?:sig|signature|x-amz-signature|x-amz-security-"""
          r"""token|password|passwd|pwd|pass|access_token|refresh_token|id_token|api_key"""
          r"""|apikey|token|client_secret|secret)=)([^&\s"'#]+)""", _value),
    # Authorization: Bearer/Basic X, X-Api-Key: X (curl -H, Invoke-WebRequest -Headers)
    Shape("Authorization header", r"""(?i)((?<![\w-])(?:proxy-)?authorization\s*[:=]\s*"""
          r"""["']?(?:(?:bearer|basic|digest|token|negotiate|ntlm|sharedkey|sas)\s+)?)"""
          r"""((?:[^\s"']|(?<=\w)["'](?=\w))++)""", _value),
    Shape("API key header", r"""(?i)((?<![\w-])(?:x-)?(?:api-?key|auth-token|access-token|"""
          r"""functions-key|goog-api-key|vault-token|amz-security-token)\s*[:=]\s*["']?)"""
          r"""((?:[^\s"']|(?<=\w)["'](?=\w))++)""", _value),
    # AKIA/ASIA key ids; aws_secret_access_key X (aws configure set, ini, env)
    Shape("AWS key id", r"(?<![A-Za-z0-9])(AKIA|ASIA)([A-Z0-9]{16})(?![A-Za-z0-9])"),
    Shape("AWS secret", r"""(?i)((?<![\w-])aws_(?:secret_access_key|session_token)["']?"""
          rf"""\s*(?:[:=]\s*|\s+))({_V})""", _value),
    Shape("Google API key", r"(?<![\w-])(AIza)([0-9A-Za-z_-]{35})(?![\w-])"),
    Shape("GitHub token", r"(?<![\w-])(gh[pousr]_|github_pat_)([A-Za-z0-9_]{20,})"),
    Shape("Slack token", r"(?<![\w-])(xox[abposr]-)([A-Za-z0-9-]{10,})"),
    Shape("Stripe key", r"(?<![\w-])([sr]k_live_)([A-Za-z0-9]{16,})"),
    # Password=x; Pwd={x}; AccountKey=..; SharedAccessSignature=..; sc config password= x
    Shape("key=value secret", r"""(?i)((?<![\w-])(?:password|passwd|pwd|accountkey|"""
          r"""sharedaccesskey|sharedaccesssignature|client_?secret|api_?key|access_?token|"""
          r"""auth_?token)\s*=\s*)(\{[^}]*\}|'[^']*'|[^;&\s"']+)""", _value),
    Shape("JSON secret", r"""(?i)(\\?["'](?:password|passwd|pwd|secret|client_secret|token|"""
          r"""access_token|refresh_token|api_?key|private_key|accountkey)\\?["']\s*:\s*"""
          r"""\\?["'])((?:[^"'\\]|\\(?!["']))++)""", _value),
    Shape("env assignment", rf"""((?<![\w$])(?:\$env:)?(?!PWD\b){_ENV}"""
          rf"""(?:\s*=\s*(?=["'])|=))({_V})""", _value),
    Shape("private key block", r"(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)"
          r"""((?:[^-"']|-(?!----))++)"""),
    Shape("JWT", r"(?<![\w-])(eyJ[A-Za-z0-9_-]*+\.)(eyJ[A-Za-z0-9_-]*+\.[A-Za-z0-9_-]*+)"),
    # --password X, --client-secret=X, --token X, --http-password X (not --no-password)
    Shape("--named secret", rf"""(?i)({_B}--(?!no-|skip-)(?:[a-z0-9]+-)*(?:{_NAMED})"""
          rf"(?:=|\s+))({_V})", _value),
    # -Password X, -NewPassword:X (PowerShell), -pw X (plink), -storepass X (keytool)
    Shape("-Named secret", r"""(?i)((?<![^\s"'(])-(?:(?:new|old|current|account|admin|"""
          r"""plain|safemodeadministrator|certificate|pfx|key|local)?password|passwd|pwd|pw|"""
          r"""pass|passphrase|(?:client|app)?secret|(?:access|bearer|auth|sas|api)?token|"""
          r"""api-?key|(?:src|dest)?(?:store|key)pass)"""
          rf"(?:\s*[:=]\s*|\s+))({_V})", _value),
    # /password:X (wmic, mimikatz, Rubeus), /pass:X (cmdkey), /ntlm:HASH, /p:X (xfreerdp)
    Shape("/named:secret", rf"(?i)({_B}/(?:password|passwd|pass|pwd|rc4|ntlm|aes128|aes256):)"
          f"({_V})", _value),
    Shape("/p:secret", rf"({_B}[/-]p:)({_V})", _not_property),
    Shape("ConvertTo-SecureString", r"(?i)(ConvertTo-SecureString(?:\s+-(?:AsPlainText|Force)"
          rf"(?::\$true)?)*+\s+(?:-String\s+)?)({_V})", _value),
    Shape("'x' | ConvertTo-SecureString", r"""(?i)(["'])([^"'\n]+)"""
          r"""(?=["']\s*\|\s*ConvertTo-SecureString)""", _value),
    Shape("NetworkCredential", r"""(?i)(NetworkCredential(?:\]::new)?\s*\(?\s*["'][^"']*"""
          r"""["']\s*,\s*["'])([^"']+)""", _value),
    # echo 'user:secret' | chpasswd
    Shape("chpasswd", rf"""({_B}[\w.$-]+:)([^\s"':]+)"""
          r"""(?=["']?\s*\|\s*(?:sudo\s+)?chpasswd)""", _value),
)
DEFAULT_PATTERNS = tuple(shape.pattern for shape in SHAPES)


class Redactor:
    """Masks the secrets its shapes (and the ``extra`` patterns, two groups each) find."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.patterns: list[tuple[re.Pattern[str], Check | None]] = [
            (re.compile(shape.pattern), shape.check) for shape in SHAPES]
        for text in extra:
            try:
                pattern = re.compile(text)
            except re.error as exc:
                raise UsageError(f"not a regular expression: {text!r}: {exc}") from exc
            if pattern.groups < 2:
                raise UsageError(f"a redaction pattern needs two groups (prefix, secret): "
                                 f"{text!r}")
            self.patterns.append((pattern, None))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the secrets are: sorted, merged (overlapping or touching) spans."""
        found = []
        for pattern, check in self.patterns:
            for match in pattern.finditer(text):
                start, end = match.span(2)
                if end - start >= 2 and text[start] == text[end - 1] and text[start] in "\"'":
                    start, end = start + 1, end - 1  # the quotes stay
                if start < end and (check is None or check(text[start:end])):
                    found.append((start, end))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def __call__(self, text: str) -> str:
        out, last = [], 0
        for start, end in self.spans(text):
            out += (text[last:start], MASK)
            last = end
        return "".join(out) + text[last:] if out else text


def redact_record(record: dict, redactor: Redactor,
                  fields: tuple[str, ...] = ("command_line", "CommandLine",
                                             "ParentCommandLine", "parent_command_line")
                  ) -> dict:
    """A copy of an export record with its command lines (also nested) masked."""
    out = {}
    for key, value in record.items():
        if isinstance(value, str) and key in fields:
            out[key] = redactor(value)
        elif isinstance(value, dict):
            out[key] = redact_record(value, redactor, fields)
        elif isinstance(value, list):
            out[key] = [redact_record(v, redactor, fields) if isinstance(v, dict)
                        else redactor(v) if isinstance(v, str) and key in fields else v
                        for v in value]
        else:
            out[key] = value
    return out
