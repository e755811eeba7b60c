"""A network probe for tests: put this folder on PYTHONPATH and set FRUITS_NETWORK_LOG.

Every Python process started so (kedro, spark-submit's driver, Spark's Python workers)
appends ``<pid> <host>`` to that file for each host name it resolves, and cannot resolve
any host outside this machine: a test reads what was attempted, and nothing leaves.
"""

import os
import socket

_LOG = os.environ.get("FRUITS_NETWORK_LOG")
LOCAL = {"", "None", "localhost", "ip6-localhost", "::1", "0.0.0.0", socket.gethostname()}


def is_local(host: str) -> bool:
    return host in LOCAL or host.startswith("127.")


if _LOG:
    _resolve = socket.getaddrinfo

    def _probed_getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {name}\n")
        if not is_local(name):
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: blocked by the test network probe")
        return _resolve(host, *args, **kwargs)

    socket.getaddrinfo = _probed_getaddrinfo
