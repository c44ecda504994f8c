"""The flags every exporter-toolkit exporter has, on the real command: where it listens
(addresses, systemd's sockets), the metrics path, and leaving out the process metrics."""

from __future__ import annotations

import os
import re
import socket
import subprocess

from ..helpers import COMMAND, DEADLINE, ExporterProcess, Samples, http_get, wait_for_sync

DEMO = ("--demo", "--demo.campaigns=5")
_LISTENING = re.compile(r"msg=listening address=(\S+)")


def listening(exporter: ExporterProcess, count: int) -> list[str]:
    """The addresses the exporter said it serves, once it has said ``count`` of them."""

    def said() -> list[str]:
        found = [m.group(1) for line in exporter.lines if (m := _LISTENING.search(line))]
        return found if len(found) >= count else []

    result: list[str] = wait_for_sync(said, f"{count} listening lines")
    return result


def bound_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def refused(*args: str) -> list[str]:
    """The command with these flags exits 1: its stderr lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    done = subprocess.run(
        [COMMAND, *args], capture_output=True, text=True, timeout=DEADLINE, env=env, check=False
    )
    assert done.returncode == 1, done.stderr
    return done.stderr.splitlines()


def test_the_telemetry_path_moves_the_metrics_and_keeps_the_other_endpoints() -> None:
    with ExporterProcess(*DEMO, "--web.telemetry-path=/internal/metrics") as exporter:
        exporter.wait_ready()
        status, text = exporter.get("/internal/metrics")
        assert status == 200
        assert Samples(text).value("campaign_exporter_source_up", source="demo-experiture") == 1
        assert exporter.get("/metrics")[0] == 404
        status, text = exporter.get("/internal/metrics?name[]=campaign_exporter_source_up")
        assert status == 200 and set(Samples(text).by_name) == {"campaign_exporter_source_up"}
        status, page = exporter.get("/")
        assert status == 200
        assert '<a href="internal/metrics">/internal/metrics</a>' in page  # the page follows
        assert exporter.get("/-/healthy") == (200, "Healthy\n")


def test_metrics_on_the_root_path_take_the_place_of_the_status_page() -> None:
    with ExporterProcess(*DEMO, "--web.telemetry-path=/") as exporter:
        exporter.wait_ready()
        status, text = exporter.get("/")
        assert status == 200
        assert Samples(text).value("campaign_exporter_source_up", source="demo-experiture") == 1
        assert exporter.get("/metrics")[0] == 404


def test_a_telemetry_path_an_endpoint_has_is_one_line_and_exit_1() -> None:
    assert refused(*DEMO, "--web.telemetry-path=/-/ready") == [
        'campaign-exporter: --web.telemetry-path: "/-/ready" is taken by the endpoint of that name'
    ]
    assert refused(*DEMO, "--web.telemetry-path=metrics") == [
        'campaign-exporter: --web.telemetry-path: invalid path "metrics": expected an '
        "absolute path such as /metrics"
    ]


def test_disabling_exporter_metrics_leaves_out_the_process_families_only() -> None:
    with (
        ExporterProcess(*DEMO) as full,
        ExporterProcess(*DEMO, "--web.disable-exporter-metrics") as lean,
    ):
        full.wait_ready()
        lean.wait_ready()
        with_process = Samples(full.get("/metrics")[1])
        without = Samples(lean.get("/metrics")[1])
    assert with_process.values("process_resident_memory_bytes")
    assert with_process.values("python_gc_objects_collected_total")
    assert [n for n in without.by_name if n.startswith(("process_", "python_"))] == []
    # the exporter's own families report on the sources, not the process: they stay
    assert without.value("campaign_exporter_source_up", source="demo-greenarrow") == 1
    assert without.value("campaign_exporter_config_last_reload_successful") == 1
    assert without.values("greenarrow_campaign_state")


def test_every_listen_address_given_is_served() -> None:
    with ExporterProcess(*DEMO, "--web.listen-address=127.0.0.1:0") as exporter:
        addresses = listening(exporter, 2)
        assert len(addresses) == 2 and addresses[0] != addresses[1]
        exporter.wait_ready()
        for address in addresses:
            status, text = http_get(f"http://{address}/metrics")
            assert status == 200 and "campaign_exporter_source_up" in text


def test_the_sockets_systemd_passes_are_served_instead_of_the_listen_address() -> None:
    with bound_socket() as first, bound_socket() as second:
        wanted = [f"127.0.0.1:{s.getsockname()[1]}" for s in (first, second)]
        sockets = (first, second)
        with ExporterProcess(*DEMO, "--web.systemd-socket", systemd_sockets=sockets) as exporter:
            assert listening(exporter, 2) == wanted
            exporter.wait_ready()
            for address in wanted:
                status, text = http_get(f"http://{address}/metrics")
                assert status == 200 and "campaign_exporter_source_up" in text
            # not also the --web.listen-address=127.0.0.1:0 the helper passes
            assert len(listening(exporter, 2)) == 2


def test_systemd_socket_without_sockets_is_one_line_and_exit_1() -> None:
    assert refused(*DEMO, "--web.systemd-socket") == [
        "campaign-exporter: --web.systemd-socket: no sockets passed: LISTEN_PID and "
        "LISTEN_FDS are not set (start it from a systemd socket unit)"
    ]
