"""Modbus TCP: pymodbus's ModbusTcpServer over the station's SimDevice context.

The request handler is ours (a small subclass of pymodbus's) for two reasons:
- pymodbus's handler keeps only the *last* decoded request per connection and stamps the
  reply with it; a reply delayed by an injected "slow" window would then carry the unit and
  transaction id of a later request. Each request here is answered by its own task with the
  request it came with.
- fault injection needs the encoded reply bytes (garble, cut short, dribble in pieces).
Cut links and unknown units raise NoSuchIdException in the context: no reply at all, the
client times out, as with a dead device behind a Modbus gateway.
"""

from __future__ import annotations

import asyncio
import logging
import random

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusIOException, NoSuchIdException
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.transaction import TransactionManager

from .linkfaults import plan
from .modbus import StationContext

log = logging.getLogger("firmware_sim.tcp")

_MBAP_LEN = 7  # transaction id, protocol id, length, unit id


class _RequestHandler(ServerRequestHandler):
    server: SimTcpServer

    def callback_data(self, data: bytes, addr: tuple | None = None) -> int:
        try:
            used_len = TransactionManager.callback_data(self, data, addr)
        except ModbusIOException as exc:  # unknown function code: as pymodbus answers it
            response = ExceptionResponse(
                exc.fcode or 0, exception_code=ExcCodes.ILLEGAL_FUNCTION,
                device_id=exc.dev_id, transaction=exc.transaction_id,
            )
            self.server_send(response, addr)
            return len(data)
        if self.last_pdu:
            self.server.spawn(self._answer(self.last_pdu))
        return used_len

    async def _answer(self, request: ModbusPDU) -> None:
        srv = self.server
        stats = srv.context.station.stats["tcp"]
        stats["requests"] += 1
        try:
            response = await request.datastore_update(srv.context, request.dev_id)
        except NoSuchIdException:
            stats["no_reply"] += 1
            return
        except Exception:  # a bug of ours must not kill the connection
            log.exception("request %s failed", request)
            response = ExceptionResponse(request.function_code, ExcCodes.DEVICE_FAILURE)
        response.transaction_id = request.transaction_id
        response.dev_id = request.dev_id
        frame = self.framer.buildFrame(response)
        faults = srv.context.station.link_faults.effective("tcp", request.dev_id)
        fate = plan(frame, faults, srv.rng, "tcp", header_len=_MBAP_LEN)
        if fate.what != "ok":
            stats["injected"] += 1
            log.debug("unit %s: injected %s", request.dev_id, fate.what)
        if fate.delay_s:
            await asyncio.sleep(fate.delay_s)
        if fate.silent:
            stats["no_reply"] += 1
            return
        # Write to the transport directly: pymodbus's send() would also clear the receive
        # buffer, losing a request that arrives while a dribbled reply is going out.
        for chunk, pause in fate.chunks or [(fate.frame, 0.0)]:
            if self.transport is None or self.transport.is_closing():
                return
            self.transport.write(chunk)  # type: ignore[attr-defined]
            if pause:
                await asyncio.sleep(pause)
        stats["replies"] += 1


class SimTcpServer(ModbusTcpServer):
    def __init__(self, context: StationContext, host: str, port: int, seed: int = 0) -> None:
        super().__init__(list(context.devices_spec), address=(host, port),
                         ignore_missing_devices=True)
        self.context = context  # the same SimCore the RTU side uses: one station state
        self.rng = random.Random(seed)
        self._tasks: set[asyncio.Task] = set()

    def callback_new_connection(self) -> _RequestHandler:
        return _RequestHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)

    def spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def bound(self) -> tuple[str, int]:
        sock = self.transport.sockets[0]  # type: ignore[attr-defined]
        host, port = sock.getsockname()[:2]
        return host, port

    async def start(self) -> None:
        await self.serve_forever(background=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.shutdown()
