"""madash's benchmark: one run, one machine, madash against the bare tools as the yardstick.

1. fleet bake of N hosts (madash-build client --all) against a plain loop of
   `dpkg-deb --build --root-owner-group -Zgzip -z6` (madash's compression) over the same N
   package trees;
2. re-bake of the N hosts with nothing changed;
3. madash-build repo over the N packages (a suite per host) against one apt-ftparchive +
   gpg run over the whole pool (the floor: one flat suite, no per-host isolation), and
   with --same-layout against apt-ftparchive + gpg making a suite per host; then the
   publish after one host changed;
4. the curve: bake and publish of fresh sites of 100, N (and with --ten-thousand 10,000)
   hosts, time and peak memory per host, so that growth shows;
5. `madash-build --version`, the price of every command's start;
6. the TLS door: Telegraf-sized batches from K concurrent simulated hosts through Debian's
   stunnel4 running the server package's configuration into Debian's influxd, against the
   same writes sent to influxd directly;
7. peak memory (PSS of the whole process tree) of the fleet bake.

Not a test: it prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import http.client
import json
import multiprocessing
import os
import platform
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from madash.bootstrap import init_site  # noqa: E402
from madash.deb import writer as deb  # noqa: E402
from madash.deb.archive import GZIP_LEVEL  # noqa: E402
from madash.deb.reader import read_deb  # noqa: E402
from madash.packages import bake, client, server  # noqa: E402
from madash.packages.common import with_changelog  # noqa: E402
from madash.pki.index import load_index  # noqa: E402
from madash.site.config import load_site  # noqa: E402
from tests.servers import Influxd, Stunnel, free_port  # noqa: E402

FEATURES = [["smart", "sensors"], ["docker", "internet"], ["vm"], [], ["nvidia", "smart"], ["ups", "sensors"]]
MADASH = [str(ROOT / ".venv" / "bin" / "madash-build")]


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def children_cpu() -> float:
    """CPU seconds (user + system) of every child waited for so far, grandchildren included.

    Beside wall time: on two cores shared with other work, wall time moves with the load,
    while the CPU a command spends changes much less.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of a process and all its descendants, from /proc.

    PSS shares each page among the processes that map it, so forked workers are not
    counted twice for the interpreter and libraries they share with their parent;
    the RSS sum is shown beside it for comparison.
    """
    pss = rss = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup", encoding="utf-8") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
            with open(f"/proc/{current}/task/{current}/children", encoding="utf-8") as children:
                pending += [int(child) for child in children.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pss, rss


def run_measured(argv: list[str]) -> tuple[float, int, int]:
    """Wall time, peak tree PSS and peak tree RSS (KiB) of a command (its CPU: children_cpu())."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = peak_rss = 0
    while process.poll() is None:
        pss, rss = tree_memory_kib(process.pid)
        peak, peak_rss = max(peak, pss), max(peak_rss, rss)
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return elapsed, peak, peak_rss


def make_site(root: Path, hosts: int) -> None:
    init_site(root, ["127.0.0.1"], "bench", force=False, ca_passphrase=None, now=dt.datetime.now(dt.UTC))
    lines = []
    for i in range(hosts):
        features = ", ".join(f'"{f}"' for f in FEATURES[i % len(FEATURES)])
        lines.append(f"\n[hosts.host{i:04d}]\nfeatures = [{features}]\n")
    with (root / "madash.toml").open("a") as config:
        config.write("".join(lines))


def baseline_trees(root: Path, work: Path) -> list[Path]:
    """The exact package trees madash built, laid out for a bare dpkg-deb loop."""
    site = load_site(root)
    index = load_index(site.paths)
    builds = bake.load_builds(site)
    now = dt.datetime.now(dt.UTC)
    trees = []
    for host in sorted(site.config.hosts):
        spec = client.client_spec(client.gather(site, host, now, apt=None, index=index))
        build = builds[spec.name]
        tree = work / spec.name
        deb.write_tree(
            with_changelog(spec, build.version, build.epoch, site.config.site.name), build.version, tree, build.epoch
        )
        trees.append(tree)
    return trees


def dpkg_loop(trees: list[Path], out: Path, options: tuple[str, ...] = ()) -> None:
    out.mkdir()
    for tree in trees:
        subprocess.run(
            ["dpkg-deb", "--build", "--root-owner-group", *options, str(tree), str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def gpg_home(work: Path) -> Path:
    home = work / "gnupg"
    home.mkdir(mode=0o700)
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--homedir",
            str(home),
            "--passphrase",
            "",
            "--quick-gen-key",
            "bench <bench@example.org>",
            "ed25519",
            "sign",
            "never",
        ],
        check=True,
        capture_output=True,
    )
    return home


def ftparchive_suite(pool_root: Path, pool_dir: str, dists: Path, home: Path) -> None:
    """apt-ftparchive packages + release + gpg, the way a hand-made repository is published."""
    binary = dists / "main" / "binary-amd64"
    binary.mkdir(parents=True)
    packages = subprocess.run(
        ["apt-ftparchive", "packages", pool_dir], cwd=pool_root, check=True, capture_output=True
    ).stdout
    (binary / "Packages").write_bytes(packages)
    subprocess.run(["gzip", "-9kn", str(binary / "Packages")], check=True)
    subprocess.run(["xz", "-k", str(binary / "Packages")], check=True)
    release = subprocess.run(
        ["apt-ftparchive", "-o", "APT::FTPArchive::Release::Origin=bench", "release", "."],
        cwd=dists,
        check=True,
        capture_output=True,
    ).stdout
    (dists / "Release").write_bytes(release)
    gpg = ["gpg", "--batch", "--homedir", str(home), "--yes"]
    subprocess.run([*gpg, "--clearsign", "-o", str(dists / "InRelease"), str(dists / "Release")], check=True)
    subprocess.run(
        [*gpg, "--detach-sign", "--armor", "-o", str(dists / "Release.gpg"), str(dists / "Release")], check=True
    )


def bench_repo(root: Path, work: Path, same_layout: bool) -> dict[str, float]:
    site = load_site(root)
    shutil.rmtree(site.paths.repo, ignore_errors=True)
    cpu = children_cpu()
    full, full_pss, _ = run_measured([*MADASH, "--site", str(root), "repo"])
    full_cpu = children_cpu() - cpu
    pool = site.paths.repo / "pool"
    home = gpg_home(work)
    suites = sorted(p.name for p in pool.iterdir())
    figures: dict[str, float] = {}

    def per_suite() -> None:
        for suite in suites:
            ftparchive_suite(site.paths.repo, f"pool/{suite}", work / "same-layout" / "dists" / suite, home)

    if same_layout:
        figures["ftparchive_same_layout_s"] = timed(per_suite)
    cpu = children_cpu()
    one_suite = timed(lambda: ftparchive_suite(site.paths.repo, "pool", work / "one-suite" / "dists" / "all", home))
    one_suite_cpu = children_cpu() - cpu
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    # One host changes: re-bake it and publish again (three times, other hosts: the median counts).
    incremental_runs = []
    for host in sorted(site.config.hosts)[:3]:
        subprocess.run(
            [*MADASH, "--site", str(root), "client", host, "--feature", "docker"], check=True, capture_output=True
        )
        incremental_runs.append(
            timed(lambda: subprocess.run([*MADASH, "--site", str(root), "repo"], check=True, capture_output=True))
        )
    incremental = statistics.median(incremental_runs)
    return {
        **figures,
        "repo_full_s": full,
        "repo_full_cpu_s": full_cpu,
        "repo_peak_pss_mib": full_pss / 1024,
        "ftparchive_one_suite_s": one_suite,
        "ftparchive_one_suite_cpu_s": one_suite_cpu,
        "repo_incremental_s": incremental,
        "suites": len(suites),
    }


def curve_point(work: Path, hosts: int) -> dict[str, float]:
    """Bake and publish a fresh site of `hosts` hosts: time and peak memory, in all and per host."""
    root = work / f"curve-{hosts}"
    print(f"curve: {hosts} hosts...", file=sys.stderr)
    make_site(root, hosts)
    bake_s, bake_pss, _ = run_measured([*MADASH, "--site", str(root), "client", "--all"])
    publish_s, publish_pss, _ = run_measured([*MADASH, "--site", str(root), "repo"])
    shutil.rmtree(root)
    return point(hosts, bake_s, bake_pss, publish_s, publish_pss)


def point(hosts: int, bake_s: float, bake_pss_kib: int, publish_s: float, publish_pss_kib: int) -> dict[str, float]:
    return {
        "hosts": hosts,
        "bake_s": bake_s,
        "bake_ms_per_host": bake_s * 1000 / hosts,
        "bake_peak_mib": bake_pss_kib / 1024,
        "publish_s": publish_s,
        "publish_ms_per_host": publish_s * 1000 / hosts,
        "publish_peak_mib": publish_pss_kib / 1024,
    }


def version_ms() -> float:
    """`madash-build --version`, wall time, median of 7 (the first warms the page cache)."""
    runs = [timed(lambda: subprocess.run([*MADASH, "--version"], check=True, capture_output=True)) for _ in range(8)]
    return statistics.median(runs[1:]) * 1000


# --- the TLS door ---------------------------------------------------------------------------


def batch(host: str, points: int, start_ns: int) -> bytes:
    lines = []
    for i in range(points // 2):
        stamp = start_ns + i * 1_000_000
        lines.append(
            f"cpu,cpu=cpu-total,host={host} usage_idle={90 + i % 10}.5,usage_user=3.25,usage_system=1.5 {stamp}"
        )
        lines.append(f"mem,host={host} used_percent={40 + i % 7}.0,total=8589934592i,available=4294967296i {stamp}")
    return ("\n".join(lines) + "\n").encode()


def writer(args: tuple[str, int, bytes, dict[str, str] | None, float, float, int, int]) -> list[float]:
    """One simulated host: batches on one kept-alive connection, as Telegraf does; latencies in s.

    Every simulated host writes from the same wall-clock instant (start_at) for the same
    seconds, so that their points over those seconds are the throughput.
    """
    host, port, auth_header, tls, start_at, seconds, points, index = args
    if tls:
        context = ssl.create_default_context(cafile=tls["ca"])
        context.load_cert_chain(tls["cert"], tls["key"])
        connection: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", port, context=context)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port)
    latencies = []
    start_ns = (int(time.time()) - 3600) * 1_000_000_000 + index * 1_000_000_000_000
    # Bodies are made before the clock starts (gzip, as madash's Telegraf sends them), so that
    # the simulated hosts, which share this machine's cores, take as little CPU as possible
    # from the servers being measured. Enough for the run; reused from the start if not.
    bodies = [
        gzip.compress(batch(host, points, start_ns + n * points * 1_000_000), compresslevel=6)
        for n in range(int(seconds * 60))
    ]
    headers = {"Authorization": auth_header.decode(), "Content-Encoding": "gzip"}
    connection.connect()
    time.sleep(max(start_at - time.time(), 0))
    deadline = start_at + seconds
    n = 0
    while time.time() < deadline:
        began = time.perf_counter()
        connection.request("POST", "/write?db=telegraf", body=bodies[n % len(bodies)], headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 204:
            raise RuntimeError(f"write failed: {response.status}")
        latencies.append(time.perf_counter() - began)
        n += 1
    connection.close()
    return latencies


def drive(
    port: int, auth: tuple[str, str], tls: dict[str, str] | None, hosts: int, seconds: float, points: int
) -> Round:
    header = ("Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()).encode()
    start_at = time.time() + 4  # time for every simulated host to make its bodies and connect
    jobs = [(f"sim{i:03d}", port, header, tls, start_at, seconds, points, i) for i in range(hosts)]
    with multiprocessing.get_context("fork").Pool(hosts) as pool:
        results = pool.map(writer, jobs)
    latencies = [value for result in results for value in result]
    return Round(len(latencies) * points / seconds, latencies)


@dataclass(frozen=True)
class Round:
    points_per_s: float
    latencies: list[float]


def combined(rounds: list[Round]) -> dict[str, float]:
    """Rounds of equal length taken together: the mean throughput, latencies pooled."""
    latencies = sorted(value for one in rounds for value in one.latencies)
    return {
        "points_per_s": statistics.mean(one.points_per_s for one in rounds),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def bench_door(root: Path, work: Path, hosts: int, seconds: float, points: int) -> dict[str, object]:
    site = load_site(root)
    now = dt.datetime.now(dt.UTC)
    contents = read_deb(bake.bake_package(site, server.server_spec(server.gather(site, now)), now).path)
    tls_dir = work / "tls"
    tls_dir.mkdir()
    for name in ("server.crt", "server.key", "ca.crt", "crl.pem"):
        (tls_dir / name).write_bytes(contents.members[f"/etc/madash-server/tls/{name}"].data or b"")
    (tls_dir / "server.key").chmod(0o600)
    env = dict(
        line.split("=", 1)
        for line in (contents.members["/etc/madash-server/madash.env"].data or b"").decode().splitlines()
        if "=" in line and not line.startswith("#")
    )
    (work / "madash.env").write_bytes(contents.members["/etc/madash-server/madash.env"].data or b"")
    helper = work / "ensure-influxdb"
    helper.write_bytes(contents.members["/usr/libexec/madash-server/ensure-influxdb"].data or b"")
    helper.chmod(0o755)
    client_dir = site.paths.clients
    host = sorted(site.config.hosts)[1]
    tls = {
        "ca": str(site.paths.pki / "ca.crt"),
        "cert": str(client_dir / f"{host}.crt"),
        "key": str(client_dir / f"{host}.key"),
    }
    writer_auth = (env["INFLUXDB_WRITE_USER"], env["INFLUXDB_WRITE_USER_PASSWORD"])
    with Influxd(work / "influxd", auth=True) as influx:
        ensure = [
            str(helper),
            "--env-file",
            str(work / "madash.env"),
            "--url",
            influx.url,
            "--state",
            str(work / "state"),
        ]
        subprocess.run(ensure, check=True, capture_output=True)
        door_port, grafana_port = free_port(), free_port()
        conf = (contents.members["/etc/madash-server/stunnel.conf"].data or b"").decode()
        conf = conf.replace("/etc/madash-server/tls", str(tls_dir))
        conf = conf.replace(":5086\n", f":{door_port}\n").replace(":3000\n", f":{grafana_port}\n")
        conf = conf.replace(":8086\n", f":{influx.port}\n").replace("debug = notice", "debug = warning")
        (work / "stunnel.conf").write_text(conf)
        with Stunnel(work / "stunnel.conf", ports=[door_port, grafana_port]):
            drive(influx.port, writer_auth, None, hosts, 1.0, points)  # warm-up

            # Alternating rounds: two cores shared by the simulated hosts, stunnel and influxd
            # make single rounds vary by 15 % either way.
            # Every round starts from an empty database: influxd slows down as data piles up
            # (compactions), which would otherwise favour whichever arm runs first.
            def fresh_database() -> None:
                influx.query("DROP DATABASE telegraf", user=env["INFLUXDB_ADMIN_USER"],
                             password=env["INFLUXDB_ADMIN_PASSWORD"])  # fmt: skip
                subprocess.run(ensure, check=True, capture_output=True)

            directs, doors = [], []
            for _ in range(3):
                fresh_database()
                directs.append(drive(influx.port, writer_auth, None, hosts, seconds, points))
                fresh_database()
                doors.append(drive(door_port, writer_auth, tls, hosts, seconds, points))
            # All rounds together: over equal windows, total points are the throughput.
            direct, door = combined(directs), combined(doors)
    return {
        "door_points_per_s": door["points_per_s"],
        "direct_points_per_s": direct["points_per_s"],
        "door_ratio": door["points_per_s"] / direct["points_per_s"],
        "door_p50_ms": door["p50_ms"],
        "door_p99_ms": door["p99_ms"],
        "direct_p50_ms": direct["p50_ms"],
        "direct_p99_ms": direct["p99_ms"],
        # A host sends about `points` points every 10 s (Telegraf's default interval).
        "hosts_at_10s": door["points_per_s"] * 10 / points,
        "door_runs_points_per_s": [one.points_per_s for one in doors],
        "direct_runs_points_per_s": [one.points_per_s for one in directs],
        "concurrent_hosts": hosts,
        "batch_points": points,
    }


def os_name() -> str:
    return platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000, help="hosts in the fleet (default 1000)")
    parser.add_argument("--ten-thousand", action="store_true", help="add a 10,000-host site to the curve (minutes)")
    parser.add_argument("--same-layout", action="store_true", help="also time apt-ftparchive + gpg, a suite per host")
    parser.add_argument("--no-door", action="store_true", help="leave out the TLS door")
    parser.add_argument("--door-hosts", type=int, default=8, help="concurrent simulated hosts at the door (default 8)")
    parser.add_argument("--door-seconds", type=float, default=8.0, help="seconds per door run (default 8)")
    parser.add_argument("--batch", type=int, default=500, help="points per write (default 500, Telegraf-sized)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench-results.json", help="where to write the figures")
    args = parser.parse_args()
    figures: dict[str, object] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {os_name()}",
        "hosts": args.hosts,
        "load_average": os.getloadavg()[0],  # the 1-minute figure: how busy the shared cores were
    }
    with tempfile.TemporaryDirectory(prefix="madash-bench-") as tmp:
        work = Path(tmp)
        root = work / "site"
        make_site(root, args.hosts)
        print(f"fleet bake of {args.hosts} hosts...", file=sys.stderr)
        cpu = children_cpu()
        bake_s, peak_kib, peak_rss_kib = run_measured([*MADASH, "--site", str(root), "client", "--all"])
        bake_cpu = children_cpu() - cpu
        print("baseline: the same trees through a dpkg-deb loop...", file=sys.stderr)
        (work / "trees").mkdir()
        trees = baseline_trees(root, work / "trees")
        cpu = children_cpu()
        gzip_loop_s = timed(lambda: dpkg_loop(trees, work / "loop-gzip", ("-Zgzip", f"-z{GZIP_LEVEL}")))
        loop_cpu = children_cpu() - cpu
        shutil.rmtree(work / "trees")
        print("re-bake with nothing changed...", file=sys.stderr)
        rebake_s, _, _ = run_measured([*MADASH, "--site", str(root), "client", "--all"])
        figures.update(
            {
                "fleet_bake_s": bake_s,
                "dpkg_deb_gzip_loop_s": gzip_loop_s,
                "bake_ratio": bake_s / gzip_loop_s,
                "fleet_bake_cpu_s": bake_cpu,
                "dpkg_deb_gzip_loop_cpu_s": loop_cpu,
                "rebake_s": rebake_s,
                "peak_pss_mib": peak_kib / 1024,
                "peak_rss_sum_mib": peak_rss_kib / 1024,
            }
        )
        print("repository publish...", file=sys.stderr)
        repo = bench_repo(root, work, args.same_layout)
        figures.update(repo)
        figures["version_ms"] = version_ms()
        sizes = sorted({100, args.hosts, *([10_000] if args.ten_thousand else [])})
        curve = []
        for hosts in sizes:
            if hosts == args.hosts:  # the fleet above is this point of the curve
                curve.append(point(hosts, bake_s, peak_kib, repo["repo_full_s"], int(repo["repo_peak_pss_mib"] * 1024)))
            else:
                curve.append(curve_point(work, hosts))
        figures["curve"] = curve
        if not args.no_door:
            print("the TLS door...", file=sys.stderr)
            (work / "door").mkdir()
            figures.update(bench_door(root, work / "door", args.door_hosts, args.door_seconds, args.batch))
    args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(table(figures))
    print()
    print(curve_table(figures))
    print(f"\nfigures written to {args.json}")
    return 0


def markdown(rows: list[tuple[str | bool, ...]]) -> list[str]:
    cells = [[c if isinstance(c, str) else ("yes" if c else "NO") for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for number, row in enumerate(cells):
        lines.append("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |")
        if number == 0:
            lines.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return lines


def number(f: dict[str, object], key: str) -> float:
    value = f[key]
    assert isinstance(value, (int, float))
    return float(value)


def growth(f: dict[str, object]) -> tuple[float, float, float] | None:
    """(bake, publish) time per host at 10,000 hosts over that at 1,000, and the highest peak, if measured."""
    curve = f.get("curve")
    assert isinstance(curve, list)
    by_hosts = {int(c["hosts"]): c for c in curve}
    if 10_000 not in by_hosts or 1000 not in by_hosts:
        return None
    big, small = by_hosts[10_000], by_hosts[1000]
    peak = max(big["bake_peak_mib"], big["publish_peak_mib"]) * 1.048576
    return (
        big["bake_ms_per_host"] / small["bake_ms_per_host"],
        big["publish_ms_per_host"] / small["publish_ms_per_host"],
        peak,
    )


def table(f: dict[str, object]) -> str:
    def g(key: str) -> float:
        return number(f, key)

    flat_ratio = g("repo_full_s") / g("ftparchive_one_suite_s")
    rows: list[tuple[str | bool, ...]] = [
        ("measure", "madash", "yardstick", "ratio", "target", "met"),
        (
            f"fleet bake, {f['hosts']} hosts",
            f"{g('fleet_bake_s'):.2f} s",
            f"{g('dpkg_deb_gzip_loop_s'):.2f} s (dpkg-deb -Zgzip -z{GZIP_LEVEL} loop, same trees)",
            f"{g('bake_ratio'):.2f}",
            "<= 0.35",
            g("bake_ratio") <= 0.35,
        ),
        (
            "  the same, CPU (user + system)",
            f"{g('fleet_bake_cpu_s'):.2f} s",
            f"{g('dpkg_deb_gzip_loop_cpu_s'):.2f} s",
            f"{g('fleet_bake_cpu_s') / g('dpkg_deb_gzip_loop_cpu_s'):.2f}",
            "",
            "-",
        ),
        ("re-bake, nothing changed", f"{g('rebake_s'):.2f} s", "", "", "< 2 s", g("rebake_s") < 2.0),
        (
            f"repo, full ({int(g('suites'))} suites)",
            f"{g('repo_full_s'):.2f} s",
            f"{g('ftparchive_one_suite_s'):.2f} s (apt-ftparchive+gpg, one flat suite: the floor)",
            f"{flat_ratio:.2f}",
            "<= 2.0",
            flat_ratio <= 2.0,
        ),
        (
            "  the same, CPU (user + system)",
            f"{g('repo_full_cpu_s'):.2f} s",
            f"{g('ftparchive_one_suite_cpu_s'):.2f} s",
            f"{g('repo_full_cpu_s') / g('ftparchive_one_suite_cpu_s'):.2f}",
            "",
            "-",
        ),
    ]
    if "ftparchive_same_layout_s" in f:
        rows.append(
            (
                "repo, full, vs the same layout by hand",
                f"{g('repo_full_s'):.2f} s",
                f"{g('ftparchive_same_layout_s'):.2f} s (apt-ftparchive+gpg, a suite per host)",
                f"{g('repo_full_s') / g('ftparchive_same_layout_s'):.2f}",
                "",
                "-",
            )
        )
    rows.append(
        (
            "repo, one host changed (median of 3)",
            f"{g('repo_incremental_s'):.2f} s",
            "",
            "",
            "< 0.25 s",
            g("repo_incremental_s") < 0.25,
        )
    )
    grown = growth(f)
    if grown is not None:
        rows += [
            (
                "per host at 10,000 / at 1,000: bake, publish",
                f"{grown[0]:.2f}, {grown[1]:.2f}",
                "",
                "",
                "<= 1.5",
                max(grown[0], grown[1]) <= 1.5,
            ),
            ("peak memory (PSS) at 10,000 hosts", f"{grown[2]:.0f} MB", "", "", "< 300 MB", grown[2] < 300),
        ]
    rows.append(("madash-build --version", f"{g('version_ms'):.0f} ms", "", "", "< 100 ms", g("version_ms") < 100))
    if "door_ratio" in f:
        rows += [
            (
                f"door, {int(g('concurrent_hosts'))} hosts x {int(g('batch_points'))} points (3 rounds)",
                f"{g('door_points_per_s'):,.0f} pt/s",
                f"{g('direct_points_per_s'):,.0f} pt/s (influxd direct)",
                f"{g('door_ratio'):.2f}",
                ">= 0.9",
                g("door_ratio") >= 0.9,
            ),
            (
                "door latency p50 / p99",
                f"{g('door_p50_ms'):.1f} / {g('door_p99_ms'):.1f} ms",
                f"{g('direct_p50_ms'):.1f} / {g('direct_p99_ms'):.1f} ms",
                "",
                "",
                "-",
            ),
            ("hosts the door carries at 10 s", f"{g('hosts_at_10s'):,.0f}", "", "", "", "-"),
        ]
    rows.append(
        (
            "peak memory (PSS), fleet bake",
            f"{g('peak_pss_mib'):.0f} MiB",
            f"RSS summed: {g('peak_rss_sum_mib'):.0f} MiB",
            "",
            "< 200 MB",
            g("peak_pss_mib") * 1.048576 < 200,
        )
    )
    load = f", load average {g('load_average'):.1f} at the start" if "load_average" in f else ""
    return "\n".join([f"{f['date']} on {f['machine']}{load}", *markdown(rows)])


def curve_table(f: dict[str, object]) -> str:
    curve = f["curve"]
    assert isinstance(curve, list)
    rows: list[tuple[str | bool, ...]] = [
        ("hosts", "bake", "bake per host", "bake peak", "publish", "publish per host", "publish peak")
    ]
    for c in curve:
        rows.append(
            (
                f"{int(c['hosts']):,}",
                f"{c['bake_s']:.2f} s",
                f"{c['bake_ms_per_host']:.2f} ms",
                f"{c['bake_peak_mib']:.0f} MiB",
                f"{c['publish_s']:.2f} s",
                f"{c['publish_ms_per_host']:.2f} ms",
                f"{c['publish_peak_mib']:.0f} MiB",
            )
        )
    return "\n".join(markdown(rows))


if __name__ == "__main__":
    sys.exit(main())
