"""A labgrid coordinator, seen from the SDK: places, their ``NetworkService``, reservations.

labgrid's client API is asyncio (:class:`labgrid.remote.client.ClientSession` over gRPC).
:class:`Coordinator` runs one session on an event loop in a thread of its own and offers
blocking calls, so the fleet's worker threads can use it. The session keeps the places and
resources the coordinator streams to it; reservations, acquire and release are the
coordinator's own RPCs (the requests ``labgrid-client reserve/acquire/release`` send),
called on the session's stub so nothing prints on stdout.

Everything this object acquired or reserved is released or cancelled by :meth:`close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sdk.errors import BoardError, SdkError

DEFAULT_PORT = 20408  # labgrid's
RPC_TIMEOUT = 15.0
# labgrid's client keepalive settings (labgrid.remote.client.ClientSession)
CHANNEL_OPTIONS = [("grpc.keepalive_time_ms", 7500), ("grpc.keepalive_timeout_ms", 10000),
                   ("grpc.http2.ping_timeout_ms", 10000), ("grpc.http2.max_pings_without_data", 0)]
T = TypeVar("T")


class FleetError(SdkError):
    """The coordinator cannot be reached, or refused a request."""


def parse_address(text: str) -> str:
    """``HOST[:PORT]`` (labgrid's ``-x``/``LG_COORDINATOR`` form) -> ``HOST:PORT``."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = text.strip(), str(DEFAULT_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise FleetError(f"bad coordinator address {text!r}", expected="HOST:PORT, e.g. 127.0.0.1:20408",
                         found=repr(text))
    return f"{host}:{port}"


@dataclass(frozen=True)
class PlaceInfo:
    """One labgrid place and the SSH address its ``NetworkService`` resource gives."""

    name: str
    tags: dict[str, str]
    acquired: str | None  # "host/user" of who holds it
    reservation: str | None  # the token of the reservation it is allocated to
    comment: str = ""
    address: str | None = None
    port: int | None = None
    username: str | None = None
    exporter: str | None = None
    available: bool = False  # the exporter publishes the resource right now
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def profile(self) -> str | None:
        return self.tags.get("profile")

    def matches(self, want: Mapping[str, str]) -> bool:
        return all(self.tags.get(k) == v for k, v in want.items())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tags": self.tags, "profile": self.profile, "acquired": self.acquired,
                "reservation": self.reservation, "comment": self.comment, "address": self.address,
                "port": self.port, "username": self.username, "exporter": self.exporter,
                "available": self.available}


def _session_class(user: str | None) -> type:
    """labgrid's ClientSession on a channel of its own: gRPC shares one TCP connection between
    channels of a process, and the coordinator refuses a second client on the same peer
    address (two users in one process, as the tests are, or a run beside its own auditor)."""
    import grpc
    from labgrid.remote.client import ClientSession
    from labgrid.remote.generated import labgrid_coordinator_pb2_grpc

    class _Session(ClientSession):  # type: ignore[misc]
        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()  # its default channel is never connected: replaced here
            self.channel = grpc.aio.insecure_channel(target=self.address, options=[
                *CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)])
            self.stub = labgrid_coordinator_pb2_grpc.CoordinatorStub(self.channel)

        def getuser(self) -> str:
            return user if user is not None else str(super().getuser())

    return _Session


class Coordinator:
    """A connection to a labgrid coordinator (``HOST:PORT``) as ``user`` (default: labgrid's:
    ``LG_USERNAME`` or the login name)."""

    def __init__(self, address: str, *, user: str | None = None, timeout: float = 10.0) -> None:
        self.address = parse_address(address)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="labgrid", daemon=True)
        self._thread.start()
        self._lock = threading.Lock()
        self.acquired: set[str] = set()
        self.reservations: set[str] = set()
        self.closing = False
        # labgrid logs a lost coordinator on the root logger; the SDK reports it itself.
        logging.getLogger().addHandler(logging.NullHandler())
        try:
            self.session = self._call(self._start(user), timeout)
        except BaseException:
            self._stop_loop()
            raise
        self.name = f"{self.session.gethostname()}/{self.session.getuser()}"

    async def _start(self, user: str | None) -> Any:
        session = _session_class(user)(self.address, asyncio.get_running_loop())
        try:
            await session.start()
        except Exception as exc:
            await session.close()
            raise FleetError(f"cannot reach the labgrid coordinator at {self.address}: {exc}",
                             fix="start it ('labgrid-coordinator -l HOST:PORT') or pass the right "
                             "HOST:PORT") from None
        return session

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = RPC_TIMEOUT) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise FleetError(f"the labgrid coordinator at {self.address} did not answer in {timeout:g} s")\
                from None

    async def _rpc(self, method: str, request: Any) -> Any:
        import grpc

        try:
            resp = await getattr(self.session.stub, method)(request)
        except grpc.aio.AioRpcError as exc:
            raise FleetError(f"labgrid coordinator at {self.address}: {method}: {exc.details()}") from None
        await self.session.sync_with_coordinator()
        return resp

    def rpc(self, method: str, **fields: Any) -> Any:
        """One coordinator RPC (``AcquirePlace``, ``CreateReservation``, ...) with its request."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        request = getattr(pb, f"{method}Request")(**fields)
        return self._call(self._rpc(method, request))

    # ----------------------------------------------------------------- places

    def places(self) -> list[PlaceInfo]:
        async def snapshot() -> list[PlaceInfo]:
            await self.session.sync_with_coordinator()
            return [self._info(p) for p in self.session.places.values()]

        return sorted(self._call(snapshot()), key=lambda p: p.name)

    def place(self, name: str) -> PlaceInfo:
        from sdk.boards import _unknown

        found = {p.name: p for p in self.places()}
        if name not in found:
            raise _unknown("labgrid place", name, sorted(found), f"list them with 'sdk board list --labgrid "
                           f"{self.address}'")
        return found[name]

    def _info(self, place: Any) -> PlaceInfo:
        """The place and the first ``NetworkService`` of the resources it matches."""
        for exporter, groups in sorted(self.session.resources.items()):
            for group, resources in sorted(groups.items()):
                for rname, res in sorted(resources.items()):
                    path = (exporter, group, res.cls, rname)
                    if res.cls != "NetworkService" or place.getmatch(path) is None:
                        continue
                    params = res.params
                    return PlaceInfo(place.name, dict(place.tags), place.acquired, place.reservation,
                                     place.comment, str(params.get("address")), int(params.get("port", 22)),
                                     str(params.get("username", "root")), exporter, bool(res.avail),
                                     dict(params.get("extra") or {}))
        return PlaceInfo(place.name, dict(place.tags), place.acquired, place.reservation, place.comment)

    def create_place(self, name: str, match: str, tags: Mapping[str, str]) -> None:
        """Create ``name`` if missing, matching ``exporter/group/cls``, with ``tags``."""
        if name not in {p.name for p in self.places()}:
            self.rpc("AddPlace", name=name)
        place = self.session.places[name]
        if not place.hasmatch(match.split("/")):
            self.rpc("AddPlaceMatch", placename=name, pattern=match)
        if any(place.tags.get(k) != v for k, v in tags.items()):
            self.rpc("SetPlaceTags", placename=name, tags=dict(tags))

    # ----------------------------------------------------------------- reservations, locks

    def reserve(self, name: str) -> str:
        """A reservation of place ``name`` (labgrid's ``name`` filter); its token."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        resp = self.rpc("CreateReservation", filters={"main": pb.Reservation.Filter(filter={"name": name})},
                        prio=0.0)
        token = str(resp.reservation.token)
        with self._lock:
            self.reservations.add(token)
        return token

    def poll(self, token: str) -> str:
        """The reservation's state (``waiting``, ``allocated``, ``acquired``, ``expired``,
        ``invalid``); polling also keeps a waiting reservation from expiring."""
        from labgrid.remote.common import ReservationState

        resp = self.rpc("PollReservation", token=token)
        return str(ReservationState(resp.reservation.state).name)

    def cancel(self, token: str) -> None:
        with self._lock:
            if token not in self.reservations:
                return  # cancelled already (release_all after a Ctrl-C)
            self.reservations.discard(token)
        with contextlib.suppress(FleetError):
            self.rpc("CancelReservation", token=token)

    def acquire(self, name: str) -> None:
        with self._lock:
            if self.closing:
                raise FleetError(f"not acquiring place {name}: the run is ending")
        self.rpc("AcquirePlace", placename=name)
        with self._lock:
            self.acquired.add(name)

    def release(self, name: str) -> None:
        with self._lock:
            if name not in self.acquired:
                return  # released already (release_all after a Ctrl-C)
            self.acquired.discard(name)
        self.rpc("ReleasePlace", placename=name)

    def release_all(self) -> list[str]:
        """Release every place this object acquired and cancel its reservations; the errors."""
        with self._lock:
            self.closing = True
            places, tokens = sorted(self.acquired), sorted(self.reservations)
        errors = []
        for name in places:
            try:
                self.release(name)
            except FleetError as exc:
                errors.append(exc.one_line())
        for token in tokens:
            self.cancel(token)
        return errors

    # ----------------------------------------------------------------- lifetime

    def close(self) -> None:
        try:
            self.release_all()
            with contextlib.suppress(Exception):
                self._call(self._close(), 5.0)
        finally:
            self._stop_loop()

    async def _close(self) -> None:
        await self.session.stop()
        await self.session.close()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        # not closed: gRPC's completion queue may still call into it once; it is collected after

    def __enter__(self) -> Coordinator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_place(place: PlaceInfo, address: str) -> None:
    """Refuse a place the SDK cannot deploy to: no NetworkService, or no profile tag."""
    if place.address is None:
        raise BoardError(f"labgrid place {place.name} has no NetworkService resource",
                         fix=f"export one and match it: labgrid-client -x {address} -p {place.name} "
                         "add-match EXPORTER/GROUP/NetworkService")
    if place.profile is None:
        raise BoardError(f"labgrid place {place.name} has no 'profile' tag",
                         fix=f"labgrid-client -x {address} -p {place.name} set-tags profile=rk3399")
