"""Shell completion (bash, zsh, fish), generated from the parser: every command and each one's options."""

from __future__ import annotations

import argparse


def _commands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, list[tuple[str, str, bool]]]]:
    """{command: (summary, [(option, help, takes a value)])} from the parser itself."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help or "" for c in sub._choices_actions}
    out: dict[str, tuple[str, list[tuple[str, str, bool]]]] = {}
    for name, p in sub.choices.items():
        opts = [(flag, (a.help or "").replace("%%", "%"), a.nargs != 0)
                for a in p._actions if a.help != argparse.SUPPRESS
                for flag in a.option_strings if flag.startswith("--")]
        out[name] = (helps.get(name, ""), opts)
    return out


def _ident(prog: str) -> str:
    return "_" + prog.replace("-", "_")


def bash(parser: argparse.ArgumentParser, prog: str) -> str:
    cmds = _commands(parser)
    cases = "\n".join(f"        {name}) opts=\"{' '.join(o for o, _, _ in opts)}\" ;;"
                      for name, (_, opts) in cmds.items())
    fn = _ident(prog)
    return f"""# bash completion for {prog}: source <({prog} completion bash)
{fn}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" cmd="" opts="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in -*) ;; *) cmd="${{COMP_WORDS[i]}}"; break ;; esac
    done
    if [[ -z "$cmd" ]]; then
        COMPREPLY=($(compgen -W "{' '.join(cmds)} --help --version" -- "$cur"))
        return
    fi
    case "$cmd" in
{cases}
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -o filenames -F {fn} {prog}
"""


def _zsh_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "'\\''").replace("[", "\\[").replace("]", "\\]").replace(":", "\\:")


def zsh(parser: argparse.ArgumentParser, prog: str) -> str:
    cmds = _commands(parser)
    fn = _ident(prog)
    described = "\n".join(f"        '{name}:{_zsh_text(summary)}'" for name, (summary, _) in cmds.items())
    cases = []
    for name, (_, opts) in cmds.items():
        specs = " ".join(f"'{o}[{_zsh_text(h)}]{':value:_files' if takes else ''}'" for o, h, takes in opts)
        cases.append(f"        {name}) _arguments {specs} '*:file:_files' ;;")
    body = "\n".join(cases)
    return f"""#compdef {prog}
# zsh completion for {prog}: {prog} completion zsh > "${{fpath[1]}}/_{prog}"
{fn}() {{
    local -a commands
    commands=(
{described}
    )
    if (( CURRENT == 2 )); then
        _describe 'command' commands
        return
    fi
    local cmd=${{words[2]}}
    shift words
    (( CURRENT-- ))
    case $cmd in
{body}
    esac
}}
{fn} "$@"
"""


def _fish_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def fish(parser: argparse.ArgumentParser, prog: str) -> str:
    cmds = _commands(parser)
    lines = [f"# fish completion for {prog}: {prog} completion fish > ~/.config/fish/completions/{prog}.fish",
             f"complete -c {prog} -f"]
    names = " ".join(cmds)
    for name, (summary, opts) in cmds.items():
        lines.append(f"complete -c {prog} -n 'not __fish_seen_subcommand_from {names}' -a {name} "
                     f"-d '{_fish_text(summary)}'")
        for o, h, takes in opts:
            value = " -r -F" if takes else ""
            lines.append(f"complete -c {prog} -n '__fish_seen_subcommand_from {name}' -l {o[2:]}{value} "
                         f"-d '{_fish_text(h)}'")
    return "\n".join(lines) + "\n"


SHELLS = {"bash": bash, "zsh": zsh, "fish": fish}


def script(shell: str, parser: argparse.ArgumentParser, prog: str) -> str:
    return SHELLS[shell](parser, prog)
