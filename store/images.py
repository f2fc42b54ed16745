"""Image paths compared and named: one place for what 4688, Sysmon and auditd write.

A Windows image path is compared case- and separator-insensitively, with the kernel's
names for a share (``\\Device\\Mup\\srv``) and for the object namespace (``\\??\\``)
brought to the form Sysmon writes. Bottom layer: imports nothing of proctrail's.
"""

from __future__ import annotations


def norm_image(image: str) -> str:
    """A path compared case- and separator-insensitively: ``c:\\windows\\cmd.exe``; a
    share as 4688 names it (``\\Device\\Mup\\srv\\x.exe``) as Sysmon does (``\\\\srv\\x.exe``)."""
    text = image.strip().strip('"').lower().replace("/", "\\").removeprefix("\\??\\")
    if text.startswith("\\device\\mup\\"):  # a share as the kernel names it (4688)
        text = "\\\\" + text.removeprefix("\\device\\mup\\")
    return text


def same_image(a: str, b: str) -> bool:
    """Whether two image names can be one program: full paths compare whole, else names."""
    if not a or not b:
        return True
    x, y = norm_image(a), norm_image(b)
    if "\\" in x and "\\" in y:
        return x == y
    return x.rsplit("\\", 1)[-1] == y.rsplit("\\", 1)[-1]


def image_key(image: str | None) -> str:
    """The file name of an image, lower case, ``/`` read as ``\\``: a key to pair one
    program's events by (``""`` when there is none)."""
    return (image or "").replace("/", "\\").rsplit("\\", 1)[-1].lower()


def image_name(image: str) -> str:
    """The file name of an image path as shown (``powershell.exe``), or ``?``: after the
    last backslash in a Windows path (where ``/`` is just a character of a name), else
    after the last slash."""
    sep = "\\" if "\\" in image else "/"
    return image.rsplit(sep, 1)[-1] or "?"
