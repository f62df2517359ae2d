"""The `mado` command: `mado chat` (talk to the bot in the terminal), `mado demo`, `mado worker`,
accounts, `mado doctor` (is this deployment set up right?) and `mado line webhook` (LINE's settings)."""
from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import threading
import time

from messages_ja import ui

from . import keys, simulate
from .config import Config, ConfigError


class LocalStack:
    """The whole real pipeline in one process: web app (HTTP), worker, LINE stand-in, Redis.

    Redis is REDIS_URL when set, else an embedded in-process stand-in (fakeredis), which only
    `mado chat` and `mado demo` use. Nothing else is simulated: webhooks are signed and posted over
    HTTP, the worker consumes the stream and line-bot-sdk calls the stand-in LINE API.
    """

    def __init__(self, env=None, *, port: int = 0, quiet: bool = True, demo: bool = False,
                 host: str = "127.0.0.1"):
        import socket

        import uvicorn

        from . import create_app
        from .asgi import Front, Limits
        from .line_standin import StandinLine
        from .worker import Worker

        env = dict(os.environ if env is None else env)
        token = secrets.token_hex(16)
        self.standin = StandinLine(token).start()
        base = Config.from_env(env)
        self.embedded = not env.get("REDIS_URL")      # its own in-process store (fakeredis)
        self.config = base.with_overrides(
            channel_secret=secrets.token_hex(16), access_token=token, api_base_url=self.standin.url,
            redis_url=env.get("REDIS_URL") or "fakeredis://mado-local",
            secret_key=env.get("MADO_SECRET_KEY") or secrets.token_hex(32),
            shards=min(base.shards, 4), send_threads=min(base.send_threads, 16),
            demo=demo, cookie_secure=False if demo else base.cookie_secure,
            environment="demo" if demo else base.environment,
        )
        self.app = create_app(self.config)
        self.app.extensions["mado.standin"] = self.standin
        if quiet:
            import logging

            logging.getLogger("mado").setLevel(logging.WARNING)
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # the web as production serves it (bot/asgi.py: the push channel is on its event loop),
        # on one uvicorn server in a thread; no Server header (no version told)
        sock = socket.create_server((host, port))
        limits = Limits.from_env({})
        front = Front(self.app, threads=limits.threads, login_queue=limits.login_queue)
        self.server = uvicorn.Server(uvicorn.Config(front, lifespan="off", server_header=False, access_log=False,
                                                    log_level="warning", proxy_headers=False, ws="none"))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.app.extensions["mado.self_url"] = self.url     # where the demo simulator posts webhooks
        self.app.extensions["mado.demo_host"] = host         # a name the simulator answers to
        self._web_thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True,
                                            name="mado-web")
        self._web_thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and self._web_thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)                  # (readiness: the server says it has started)
        self.worker = Worker(self.config, worker_id="local")
        self._worker_thread = threading.Thread(target=self.worker.run, daemon=True, name="mado-worker")
        self._worker_thread.start()

    def post_event(self, event: dict) -> int:
        return simulate.post_webhook(self.url, self.config.channel_secret, event, self.standin)

    def close(self) -> None:
        self.worker.request_stop()
        self._worker_thread.join(10)
        self.server.should_exit = True
        self._web_thread.join(10)
        self.standin.stop()


# What the keys of another deployment are, by their hash tag (bot/keys.py, handoff/store.py), for
# the message that refuses such a Redis.
KEY_KINDS = {"workers": "worker heartbeats", "ev": "event streams and shard leases", "handoff": "handoffs",
             "staff": "counselor accounts", "u": "people's conversations", "stats": "counters"}


def _where(url: str) -> str:
    """Where a Redis URL points (host, port, database), without its user name or password."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port or 6379}{parts.path}" if parts.hostname else parts.path
    except ValueError:
        return "?"


def other_deployment(r) -> str | None:
    """Why this Redis belongs to another deployment of mado, or None when it is free to use.

    Another deployment = any key named mado:* (everything mado writes is: worker heartbeats and
    shard leases, event streams, handoffs, accounts, people's state, counters). A local stack
    there would join the workers' share of the shards with its own shard count and write into the
    data. An earlier demo's leftovers count too: they cannot be told from a live service's."""
    import itertools

    found = list(itertools.islice(r.scan_iter(match="mado:*", count=1000), 500))
    if not found:
        return None
    reasons = []
    beats = [score for _id, score in r.zrange(keys.WORKERS, 0, -1, withscores=True)]
    if beats:
        reasons.append(f"{len(beats)} worker{'s' if len(beats) > 1 else ''} registered "
                       f"(the last heartbeat {max(0, time.time() - max(beats)):.0f} s ago)")
    tags = sorted({m.group(1) for k in found if (m := re.match(r"mado:\{([a-z]+)", k))})
    reasons.append("keys of " + ", ".join(KEY_KINDS.get(t, f"mado:{{{t}}}") for t in tags))
    return "; ".join(reasons)


def refuse_shared_redis(command: str, env=None) -> None:
    """`mado demo` / `mado chat` with REDIS_URL set: stop (ConfigError, exit 2) unless that Redis
    holds nothing of mado's. Only the embedded store (REDIS_URL unset) needs no check."""
    env = os.environ if env is None else env
    url = env.get("REDIS_URL")
    if not url:
        return
    import redis

    from .redis_conn import connect

    try:
        r = connect(url, timeout_s=5)
        why = other_deployment(r)
        r.close()
    except (redis.RedisError, OSError) as exc:
        raise ConfigError(f"cannot reach REDIS_URL ({_where(url)}): {type(exc).__name__}") from None
    if why:
        raise ConfigError(
            f"REDIS_URL ({_where(url)}) is used by another mado deployment: {why}. `mado {command}` "
            "would take event shards from its workers and write into its data, so it did not start. "
            "Point REDIS_URL at an empty Redis or at a database number nothing else uses (e.g. "
            "redis://127.0.0.1:6379/15; an earlier demo's data counts too: empty it first), or unset "
            "REDIS_URL to use the embedded store.")


def _action_target(action: dict) -> str:
    """What tapping a button does: the URI it opens (tel:119), or the words or data it sends."""
    return action.get("uri") or action.get("text") or action.get("displayText") or action.get("data") or ""


def card_lines(node: dict, heading: list | None = None) -> list[str]:
    """A Flex card's buttons for the terminal, in the card's order: each row's name (the bold text
    before its buttons) once, then each button's label and what it does (a call button → tel:119).
    Walks bubbles, carousels and boxes alike; the card's text itself is its altText, shown above."""
    heading = heading if heading is not None else [None, None]     # [last bold text, last printed]
    lines: list[str] = []
    kind = node.get("type")
    if kind == "text" and node.get("weight") == "bold":
        heading[0] = node.get("text")
    elif kind == "button":
        if heading[0] and heading[0] != heading[1]:
            lines.append(f"   | {heading[0]}")
            heading[1] = heading[0]
        action = node.get("action") or {}
        lines.append(f"   |   {action.get('label', '')} → {_action_target(action)}")
    for part in ("header", "hero", "body", "footer"):
        if isinstance(node.get(part), dict):
            lines += card_lines(node[part], heading)
    for child in node.get("contents") or []:
        if isinstance(child, dict):
            lines += card_lines(child, heading)
    return lines


def chat(argv=None, stdin=None, stdout=None) -> int:
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    refuse_shared_redis("chat")
    stack = LocalStack()
    user_id = simulate.new_user_id()
    seen = 0
    choices: list[dict] = []

    def show_new(timeout=10.0):
        nonlocal seen, choices
        got = stack.standin.wait_for(lambda s: len(s.deliveries(user_id)) > seen, timeout=timeout)
        if not got:
            print(ui("chat.no_answer"), file=out)
            return
        time.sleep(0.3)   # let the rest of a multi-part answer land
        for d in stack.standin.deliveries(user_id)[seen:]:
            for m in d["messages"]:
                # what a phone shows as text: a text message's text, a card's altText (its numbers too)
                print(f"\n{ui('chat.bot')}> {m.get('text') or m.get('altText', '')}", file=out)
                if m.get("type") == "flex":
                    for line in card_lines(m.get("contents") or {}):
                        print(line, file=out)
                items = (m.get("quickReply") or {}).get("items") or []
                if items:
                    choices = [it["action"] for it in items]
                    print("   " + "  ".join(f"[{i}] {a['label']}" for i, a in enumerate(choices, 1)), file=out)
        seen = len(stack.standin.deliveries(user_id))
        out.flush()

    try:
        print(ui("chat.intro"), file=out)
        stack.post_event(simulate.follow(user_id))
        show_new()
        while True:
            print(f"\n{ui('chat.you')}> ", end="", file=out, flush=True)
            line = stdin.readline()
            if not line:
                break
            line = line.strip()
            if not line:
                continue
            if line == ui("chat.cmd_quit"):
                break
            if line == ui("chat.cmd_sticker"):
                print(ui("chat.sticker_sent"), file=out)
                stack.post_event(simulate.message(user_id, simulate.STICKER))
            elif line == ui("chat.cmd_image"):
                print(ui("chat.image_sent"), file=out)
                stack.post_event(simulate.message(user_id, simulate.IMAGE))
            elif line.isdigit() and 1 <= int(line) <= len(choices):
                action = choices[int(line) - 1]
                print(f"  → {action.get('displayText') or action['label']}", file=out)
                stack.post_event(simulate.postback(user_id, action["data"]))
            else:
                stack.post_event(simulate.message(user_id, {"type": "text", "text": line}))
            show_new()
    except KeyboardInterrupt:
        pass
    finally:
        stack.close()
    print("", file=out)
    return 0


def demo() -> int:
    """The whole system on an embedded default, with a browser chat simulator and a counselor."""
    from .signals import STOP

    STOP.catch()                         # first thing: a SIGTERM while starting up is a clean stop
    stop = STOP.event
    from handoff.accounts import AccountError, Accounts

    refuse_shared_redis("demo")
    port = int(os.environ.get("PORT") or 8000)
    stack = LocalStack(port=port, demo=True, host=os.environ.get("MADO_DEMO_HOST", "127.0.0.1"))
    if stack.embedded:
        # its own login, in its own store: gone with the demo
        password = os.environ.get("MADO_DEMO_PASSWORD") or secrets.token_urlsafe(9)
        accounts = Accounts(stack.app.extensions["mado.redis"])
        try:
            accounts.add("demo", password, "admin")
        except AccountError:
            accounts.set_password("demo", password)
        print(ui("demo.ready").format(url=stack.url, name="demo", password=password), flush=True)
    else:
        # a Redis that outlives the demo: no account is made there (one would still log in to
        # whatever used that Redis next); the operator makes one with `mado counselor add`
        print(ui("demo.ready_redis").format(url=stack.url), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.close()
    return 0


def _read_password() -> str:
    """From standard input: a terminal is asked twice without echo; a pipe gives one line."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ConfigError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def counselor_command(args) -> int:
    from handoff.accounts import AccountError, Accounts

    from .redis_conn import connect

    cfg = Config.from_env().require("redis_url")
    accounts = Accounts(connect(cfg.redis_url))
    try:
        if args.action == "list":
            for name in accounts.names():
                print(name)
            return 0
        if args.action in ("disable", "enable"):
            accounts.set_disabled(args.name, args.action == "disable")
            print(f"mado: counselor {args.name!r} " + ("disabled; every session of it ended"
                                                        if args.action == "disable" else "enabled"))
            return 0
        password = _read_password()
        if args.action == "add":
            accounts.add(args.name, password, "admin" if args.admin else "counselor")
            print(f"mado: counselor {args.name!r} created" + (" (admin)" if args.admin else ""))
        else:
            accounts.set_password(args.name, password)
            print(f"mado: password of {args.name!r} changed; every session of it ended")
    except AccountError as exc:
        print(f"mado: {exc}", file=sys.stderr)
        return 2
    return 0


def team_command(args) -> int:
    """`mado team add|set|remove|list`, `mado team member add|remove TEAM NAME` (handoff/teams.py)."""
    from handoff.store import HandoffStore
    from handoff.teams import TeamError, Teams

    from .redis_conn import connect

    cfg = Config.from_env().require("redis_url")
    r = connect(cfg.redis_url)
    teams = Teams(r, audit=HandoffStore(r, shards=cfg.shards).audit)
    split = lambda text: [p for p in re.split(r"[,\u3001]", text or "") if p.strip()]   # noqa: E731
    try:
        if args.action == "list":
            for team in teams.all():
                d = team.as_dict()
                print(f"{d['name']}\tplaces: {', '.join(p['name'] for p in d['places'])}\thours: {d['hours']}"
                      + (f"\tclosed: {d['closed']}" if d["closed"] else "")
                      + f"\tmembers: {', '.join(d['members']) or '-'}")
            return 0
        if args.action == "add":
            team = teams.add(args.name, split(args.places), args.hours or "always", args.closed or "")
            print(f"mado: team {team.name!r} created, serving {len(team.places)} place(s)")
        elif args.action == "set":
            teams.change(args.name, places=split(args.places) if args.places is not None else None,
                         hours=args.hours, closed=args.closed)
            print(f"mado: team {args.name!r} changed")
        elif args.action == "remove":
            teams.remove(args.name)
            print(f"mado: team {args.name!r} removed; its waiting handoffs are in the shared pool")
        elif args.action == "member":
            if args.op == "add":
                teams.add_member(args.team, args.name)
                print(f"mado: {args.name!r} is in team {args.team!r}")
            else:
                teams.remove_member(args.team, args.name)
                print(f"mado: {args.name!r} left team {args.team!r}")
    except TeamError as exc:
        print(f"mado: {exc}", file=sys.stderr)
        return 2
    return 0


def report_command(args) -> int:
    """`mado report --month YYYY-MM [--team NAME] --format csv|html` to standard output."""
    from handoff.report import ReportError, build, to_csv, to_html

    from .redis_conn import connect

    cfg = Config.from_env().require("redis_url")
    r = connect(cfg.redis_url)
    try:
        rep = build(r, args.month, team=args.team)
    except ReportError as exc:
        print(f"mado: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(to_csv(rep) if args.format == "csv" else to_html(rep))
    return 0


def forget_command(args) -> int:
    from handoff.accounts import Accounts
    from handoff.store import HandoffStore

    from .redis_conn import connect

    cfg = Config.from_env().require("redis_url")
    r = connect(cfg.redis_url)
    from handoff.accounts import Busy, Throttled

    try:
        acc = Accounts(r).verify(args.by, _read_password(), "cli")
    except (Throttled, Busy) as exc:
        print(f"mado: too many failed attempts; try again later ({exc})", file=sys.stderr)
        return 2
    if not acc or acc.get("role") != "admin":
        print("mado: only an admin may do this (wrong name or password, or not an admin)", file=sys.stderr)
        return 2
    store = HandoffStore(r, shards=cfg.shards)
    found = [m for m in store.find_by_alias(args.alias) if not args.handoff or m["id"] == args.handoff]
    if not found:
        print(f"mado: no retained handoff with alias {args.alias!r}", file=sys.stderr)
        return 1
    if len({m["pid"] for m in found}) > 1:
        print("mado: several people share this alias; add --handoff with one of: "
              + ", ".join(m["id"] for m in found), file=sys.stderr)
        return 1
    store.request_forget(found[0], acc["name"])
    print(f"mado: deletion of {args.alias.upper()} queued; the worker removes every key of that person")
    return 0


def line_command(args) -> int:
    """`mado line webhook set URL | show | test`: the channel's webhook endpoint, through the
    Messaging API (what LINE Developers Console's "Webhook settings" does, from the terminal)."""
    from urllib.parse import urlsplit

    from linebot.v3.messaging import ApiException

    from messages_ja import operator as say

    from . import line_settings
    from .doctor import webhook_test_row

    cfg = Config.from_env().require("access_token")
    try:
        if args.action == "set":
            if urlsplit(args.url).path.rstrip("/") != "/callback":
                print(say("webhook.set.not_callback"), file=sys.stderr)
                return 2
            try:
                line_settings.set_webhook(cfg, args.url)
            except ApiException as exc:
                if exc.status != 400:
                    raise
                print(say("webhook.set.refused", error=line_settings.error_message(exc)), file=sys.stderr)
                return 2
            print(say("webhook.set.ok", url=args.url))
            return 0
        hook = line_settings.get_webhook(cfg)
        if hook is None:
            print(say("webhook.show.none"), file=sys.stderr)
            return 1
        if args.action == "show":
            print(say("webhook.show", url=hook["endpoint"],
                      active=say("webhook.on") if hook["active"] else say("webhook.off")))
            return 0 if hook["active"] else 1
        test = line_settings.run_webhook_test(cfg)
        if test is None:            # unset between the two calls
            print(say("webhook.show.none"), file=sys.stderr)
            return 1
        if test.get("success"):
            print(say("webhook.test.ok", status=test.get("statusCode"), url=hook["endpoint"]))
            return 0
        row = webhook_test_row(test, "")
        print(say("webhook.test.fail", reason=test.get("reason"), detail=test.get("detail")), file=sys.stderr)
        print(say("doctor.fix", fix=row.fix), file=sys.stderr)
        return 1
    except ApiException as exc:
        print(say("webhook.error", error=f"{exc.status} {line_settings.error_message(exc)}"), file=sys.stderr)
        return 1


def worker_command() -> int:
    """`mado worker`: as `python -m bot.worker`, with SIGTERM/SIGINT caught before the worker's
    (slow) imports; one that comes meanwhile is handed on, so it stops the worker cleanly."""
    from .signals import STOP

    STOP.catch()                         # one that comes meanwhile stops the worker once it runs
    from .worker import main as worker_main

    return worker_main()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mado", description="mado: a gentle LINE first-contact bot")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("chat", help="talk to the bot in the terminal (embedded Redis and LINE stand-in)")
    sub.add_parser("worker", help="run the event worker (as the Procfile's worker line)")
    sub.add_parser("demo", help="web + worker + console + a browser chat simulator, on an embedded default")
    counselor = sub.add_parser("counselor", help="counselor accounts (needs REDIS_URL)")
    csub = counselor.add_subparsers(dest="action", required=True)
    add = csub.add_parser("add", help="create an account; the password is read from standard input")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may see statistics and act on any handoff")
    pw = csub.add_parser("password", help="set a new password (read from standard input)")
    pw.add_argument("name")
    dis = csub.add_parser("disable", help="remove access at once: no login, every session ended")
    dis.add_argument("name")
    ena = csub.add_parser("enable", help="allow a disabled account to log in again")
    ena.add_argument("name")
    csub.add_parser("list", help="list account names")
    sub.add_parser("doctor", help="check this deployment (variables, Redis, LINE, webhook, clock, admin, "
                                  "hours, workers): a table of checks; exit 1 when any fails")
    line = sub.add_parser("line", help="the LINE channel's settings (needs LINE_CHANNEL_ACCESS_TOKEN)")
    lsub = line.add_subparsers(dest="what", required=True)
    webhook = lsub.add_parser("webhook", help="the webhook endpoint LINE posts to")
    wsub = webhook.add_subparsers(dest="action", required=True)
    wset = wsub.add_parser("set", help="set it (https://your.domain/callback)")
    wset.add_argument("url")
    wsub.add_parser("show", help="show it and whether it is in use")
    wsub.add_parser("test", help="have LINE post a test webhook to it")
    forget = sub.add_parser("forget", help="delete everything of one person, by their alias (admin only)")
    forget.add_argument("--alias", required=True, help="the alias counselors see, e.g. 7F3A")
    forget.add_argument("--handoff", help="the handoff id, when several people share the alias")
    forget.add_argument("--by", required=True, help="your admin account (password from standard input)")
    team = sub.add_parser("team", help="teams: the places they serve, their hours, their counselors (needs REDIS_URL)")
    tsub = team.add_subparsers(dest="action", required=True)
    tadd = tsub.add_parser("add", help="create a team")
    tadd.add_argument("name")
    tadd.add_argument("--places", required=True, help="prefectures, municipalities or wards (names or JIS "
                                                      "codes), comma-separated")
    tadd.add_argument("--hours", help="when it is on duty, as MADO_HOURS (default: always)")
    tadd.add_argument("--closed", help="its days off, as MADO_CLOSED_DATES")
    tset = tsub.add_parser("set", help="change a team's places, hours or days off")
    tset.add_argument("name")
    tset.add_argument("--places")
    tset.add_argument("--hours")
    tset.add_argument("--closed")
    trm = tsub.add_parser("remove", help="delete a team (its waiting handoffs go to the shared pool)")
    trm.add_argument("name")
    tsub.add_parser("list", help="every team: places, hours, members")
    tmem = tsub.add_parser("member", help="a team's counselors")
    tmsub = tmem.add_subparsers(dest="op", required=True)
    for op in ("add", "remove"):
        p = tmsub.add_parser(op, help=f"{op} a counselor")
        p.add_argument("team")
        p.add_argument("name")
    report = sub.add_parser("report", help="the monthly figures, counts only (needs REDIS_URL)")
    report.add_argument("--month", required=True, help="YYYY-MM (Asia/Tokyo)")
    report.add_argument("--team", help="one team only (the overall figures are given too)")
    report.add_argument("--format", choices=("csv", "html"), default="csv")
    rich = sub.add_parser("richmenu", help="mado's rich menu")
    rsub = rich.add_subparsers(dest="action", required=True)
    dep = rsub.add_parser("deploy", help="create it, upload its image, make it the default (needs "
                                         "LINE_CHANNEL_ACCESS_TOKEN)")
    dep.add_argument("--dry-run", action="store_true", help="only check it against LINE's rules")
    args = parser.parse_args(argv)
    try:
        if args.command == "richmenu":
            from .richmenu import RichMenuError, deploy

            cfg = Config.from_env()
            if not args.dry_run:
                cfg.require("access_token")
            from linebot.v3.messaging import ApiException

            try:
                menu_id = deploy(cfg, dry_run=args.dry_run)
            except RichMenuError as exc:
                print(f"mado: rich menu: {exc}", file=sys.stderr)
                return 2
            except ApiException as exc:
                print(f"mado: rich menu: LINE answered {exc.status} {exc.reason}: {exc.body}", file=sys.stderr)
                return 1
            print(f"mado: rich menu {menu_id} is now the default" if menu_id else "mado: rich menu OK")
            return 0
        if args.command == "doctor":
            from .doctor import main as doctor_main

            return doctor_main()
        if args.command == "line":
            return line_command(args)
        if args.command == "forget":
            return forget_command(args)
        if args.command == "team":
            return team_command(args)
        if args.command == "report":
            return report_command(args)
        if args.command == "counselor":
            return counselor_command(args)
        if args.command == "chat":
            return chat()
        if args.command == "demo":
            return demo()
        if args.command == "worker":
            return worker_command()
    except ConfigError as exc:
        print(f"mado: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    raise SystemExit(main())


