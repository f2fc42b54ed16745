"""``proctrail completion bash|zsh|fish``: a shell completion script, read off the parser.

Every command, option and choice comes from the argparse parser itself (:func:`spec`), so
the scripts cannot drift from the command line; options that take a file or folder
(``type=Path``, ``--db``, a ``FILE``/``DIR``/``PATH`` metavar) complete file names.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

from proctrail.app.cli.common import EXIT_OK

SHELLS = ("bash", "zsh", "fish")
_FILE_METAVARS = ("FILE", "DIR", "PATH", "CASE")
_FILE_DESTS = ("db", "case_db", "out", "file", "truth")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "completion", help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script for proctrail's commands, options and their "
                    "choices. bash: 'source <(proctrail completion bash)' in ~/.bashrc; "
                    "zsh: 'proctrail completion zsh > ~/.zfunc/_proctrail' with ~/.zfunc "
                    "in $fpath before compinit; fish: 'proctrail completion fish > "
                    "~/.config/fish/completions/proctrail.fish'.")
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.app.cli import build_parser

    commands = spec(build_parser())
    print({"bash": bash, "zsh": zsh, "fish": fish}[args.shell](commands), end="")
    return EXIT_OK


# --- what the parser says ----------------------------------------------------------------


@dataclass
class Option:
    """One option: its spellings, whether it takes a value, its choices, files or not."""

    names: list[str]
    help: str
    value: bool
    choices: list[str] = field(default_factory=list)
    files: bool = False
    repeat: bool = False


@dataclass
class Positional:
    """One positional argument: its choices, or files, or free text; how many."""

    name: str
    help: str
    choices: list[str] = field(default_factory=list)
    files: bool = False
    many: bool = False  # nargs * or +: every word from here on


@dataclass
class Command:
    """A subcommand (``""`` for proctrail itself) and its arguments."""

    name: str
    help: str
    options: list[Option]
    positionals: list[Positional]


def _files(action: argparse.Action) -> bool:
    return (action.type is Path or action.dest in _FILE_DESTS
            or str(action.metavar or "").upper() in _FILE_METAVARS)


def _arguments(parser: argparse.ArgumentParser) -> tuple[list[Option], list[Positional]]:
    options, positionals = [], []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        text = action.help if isinstance(action.help, str) else ""
        choices = [str(c) for c in action.choices] if action.choices else []
        if action.option_strings:
            options.append(Option(
                list(action.option_strings), text, action.nargs != 0, choices,
                _files(action), isinstance(action, argparse._AppendAction)))
        else:
            positionals.append(Positional(
                str(action.metavar or action.dest), text, choices, _files(action),
                action.nargs in ("*", "+")))
    return options, positionals


def spec(parser: argparse.ArgumentParser) -> list[Command]:
    """proctrail (first, named ``""``) and every subcommand, as the parser defines them."""
    options, _ = _arguments(parser)
    out = [Command("", parser.description or "", options, [])]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                sub_options, positionals = _arguments(sub)
                out.append(Command(name, helps.get(name, ""), sub_options, positionals))
    return out


def _short(text: str, limit: int = 70) -> str:
    """A help text's first clause, on one line, at most ``limit`` characters."""
    line = re.split(r"[.;]\s", " ".join(text.split()), maxsplit=1)[0]
    return line if len(line) <= limit else line[:limit - 3].rstrip() + "..."


# --- bash --------------------------------------------------------------------------------


def bash(commands: list[Command]) -> str:
    """A bash completion function for ``complete -F``."""
    top, subs = commands[0], commands[1:]
    lines = ["# proctrail completion for bash: source <(proctrail completion bash)",
             "_proctrail() {",
             '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
             '    local cmd="" i word n=0',
             "    COMPREPLY=()",
             "    for ((i = 1; i < COMP_CWORD; i++)); do",
             '        word="${COMP_WORDS[i]}"',
             '        if [[ -z $cmd ]]; then',
             '            case "$word" in',
             f"                {_bash_alts(_valued(top))}) ((i++)) ;;",
             "                -*) ;;",
             '                *) cmd="$word" ;;',
             "            esac",
             "            continue",
             "        fi",
             '        case "$cmd $word" in']
    for command in subs:
        valued = _valued(command)
        if valued:
            alts = "|".join(f"'{command.name} {o}'" for o in valued)
            lines.append(f"            {alts}) ((i++)) ;;")
    lines += ['            *" -"*) ;;',
              "            *) ((n++)) ;;",
              "        esac",
              "    done",
              '    case "$cmd" in',
              '        "")']
    lines += _bash_command(top, [c.name for c in subs])
    for command in subs:
        lines.append(f"        {command.name})")
        lines += _bash_command(command, [])
    lines += ["    esac",
              "}",
              "complete -F _proctrail proctrail",
              ""]
    return "\n".join(lines)


def _valued(command: Command) -> list[str]:
    return [name for o in command.options if o.value for name in o.names]


def _bash_alts(words: list[str]) -> str:
    return "|".join(words) or "--never-an-option"


def _bash_words(words: list[str]) -> str:
    return "COMPREPLY=($(compgen -W '" + " ".join(words) + "' -- \"$cur\"))"


_BASH_FILES = 'compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur")'


def _bash_command(command: Command, subcommands: list[str]) -> list[str]:
    """The case arm of one command: an option's value, an option, a positional."""
    out = ['            case "$prev" in']
    for o in command.options:
        if not o.value:
            continue
        what = _bash_words(o.choices) if o.choices else _BASH_FILES if o.files else ""
        out.append(f"                {'|'.join(o.names)}) {what}; return ;;" if what else
                   f"                {'|'.join(o.names)}) return ;;")
    out += ["            esac",
            '            if [[ $cur == -* ]]; then',
            "                " + _bash_words([n for o in command.options for n in o.names]),
            "                return",
            "            fi"]
    if subcommands:
        out.append("            " + _bash_words(subcommands))
    for index, p in enumerate(command.positionals):
        test = f"((n >= {index}))" if p.many else f"((n == {index}))"
        if p.choices:
            out.append(f"            if {test}; then {_bash_words(p.choices)}; return; fi")
        elif p.files:
            out.append(f"            if {test}; then {_BASH_FILES}; return; fi")
    out.append("            ;;")
    return out


# --- zsh ---------------------------------------------------------------------------------


def _zq(text: str) -> str:
    """Text for inside a single-quoted _arguments spec: brackets and colons escaped."""
    text = re.sub(r"([\\\[\]:])", r"\\\1", text)
    return text.replace("'", "'\\''")


def _zsh_action(choices: list[str], files: bool) -> str:
    if choices:
        return "(" + " ".join(choices) + ")"
    return "_files" if files else " "


def _zsh_specs(command: Command) -> list[str]:
    out = []
    for o in command.options:
        for name in o.names:
            star = "*" if o.repeat else ""
            value = (f":{_zq(o.names[-1].lstrip('-'))}:{_zsh_action(o.choices, o.files)}"
                     if o.value else "")
            out.append(f"'{star}{name}[{_zq(_short(o.help))}]{value}'")
    for index, p in enumerate(command.positionals, 1):
        where = "*" if p.many else str(index)
        out.append(f"'{where}:{_zq(p.name)}:{_zsh_action(p.choices, p.files)}'")
    return out


def zsh(commands: list[Command]) -> str:
    """A zsh completion function (``#compdef proctrail``) for a file named ``_proctrail``
    in ``$fpath``."""
    top, subs = commands[0], commands[1:]
    lines = ["#compdef proctrail",
             "# proctrail completion for zsh: proctrail completion zsh > ~/.zfunc/_proctrail",
             "_proctrail() {",
             "    local curcontext=\"$curcontext\" state line",
             "    local -a commands",
             "    commands=("]
    lines += [f"        '{_zq(c.name)}:{_zq(_short(c.help))}'" for c in subs]
    lines += ["    )",
              "    _arguments -C \\"]
    lines += [f"        {s} \\" for s in _zsh_specs(top)]
    lines += ["        '1: :->command' \\",
              "        '*:: :->arguments'",
              '    case "$state" in',
              "        command) _describe -t commands 'proctrail command' commands ;;",
              "        arguments)",
              '            case "$words[1]" in']
    for command in subs:
        lines.append(f"                {command.name})")
        specs = _zsh_specs(command)
        lines.append("                    _arguments " + " \\\n                        ".join(
            specs) + " ;;" if specs else "                    ;;")
    lines += ["            esac",
              "            ;;",
              "    esac",
              "}",
              "",
              'if [[ "$funcstack[1]" == _proctrail ]]; then',
              '    _proctrail "$@"',
              "else",
              "    compdef _proctrail proctrail",
              "fi",
              ""]
    return "\n".join(lines)


# --- fish --------------------------------------------------------------------------------


def _fq(text: str) -> str:
    """A fish single-quoted string."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish(commands: list[Command]) -> str:
    """fish ``complete`` lines, with a helper that finds the command word."""
    top, subs = commands[0], commands[1:]
    valued = " ".join(_valued(top)) or "--never-an-option"
    lines = ["# proctrail completion for fish: proctrail completion fish > "
             "~/.config/fish/completions/proctrail.fish",
             "function __proctrail_command",
             "    set -l words (commandline -opc)",
             "    set -e words[1]",
             "    while set -q words[1]",
             "        switch $words[1]",
             f"            case {valued}",
             "                set -e words[1]",
             "            case '-*'",
             "            case '*'",
             "                echo $words[1]",
             "                return 0",
             "        end",
             "        set -e words[1]",
             "    end",
             "    return 1",
             "end",
             "function __proctrail_is",
             "    set -l command (__proctrail_command); and test \"$command\" = $argv[1]",
             "end",
             "complete -c proctrail -f"]
    for o in top.options:
        lines.append(_fish_option("not __proctrail_command >/dev/null", o))
    for c in subs:
        lines.append(f"complete -c proctrail -n 'not __proctrail_command >/dev/null' "
                     f"-a {c.name} -d {_fq(_short(c.help))}")
    for c in subs:
        when = f"__proctrail_is {c.name}"
        for o in c.options:
            lines.append(_fish_option(when, o))
        for p in c.positionals:
            if p.choices:
                lines.append(f"complete -c proctrail -n '{when}' -a {_fq(' '.join(p.choices))}"
                             f" -d {_fq(_short(p.help or p.name))}")
            elif p.files:
                lines.append(f"complete -c proctrail -n '{when}' -F")
    return "\n".join(lines) + "\n"


def _fish_option(when: str, o: Option) -> str:
    flags = []
    for name in o.names:
        flags.append(f"-l {name[2:]}" if name.startswith("--") else f"-s {name[1:]}")
    if o.value:
        flags.append("-r -F" if o.files and not o.choices else "-x")
        if o.choices:
            flags.append(f"-a {_fq(' '.join(o.choices))}")
    return (f"complete -c proctrail -n '{when}' {' '.join(flags)} "
            f"-d {_fq(_short(o.help))}")
