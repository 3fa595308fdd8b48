"""A small MCP server over streamable HTTP (the `mcp` package, pinned in
scripts/python-tools.txt), for the tests: tools `add`, `shout`, `fail` and `slow`, stateless,
plain JSON answers, and every request must carry `x-api-key: secret-1`.

Usage: python mcp_server.py  — listens on 127.0.0.1 on a free port, endpoint /mcp, and prints
`READY <port>` (flushed) once it accepts connections.
"""

import socket

import anyio
import uvicorn
from starlette.responses import JSONResponse

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

mcp = MCPServer(name="test-tools", version="0.1.0", log_level="WARNING")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@mcp.tool()
def shout(text: str) -> str:
    """Return the text upper-cased."""
    return text.upper()


@mcp.tool()
def fail(reason: str) -> str:
    """Always fails."""
    raise ToolError(f"failed on purpose: {reason}")


@mcp.tool()
async def slow(seconds: float) -> str:
    """Answers after a while."""
    await anyio.sleep(seconds)
    return "slept"


class ApiKey:
    """Requests without `x-api-key: secret-1` get 401."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and dict(scope["headers"]).get(b"x-api-key") != b"secret-1":
            await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def main():
    app = mcp.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True, host="127.0.0.1"
    )
    app.add_middleware(ApiKey)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        while not server.started:
            if server.should_exit:
                return
            await anyio.sleep(0.05)
        print(f"READY {sock.getsockname()[1]}", flush=True)


if __name__ == "__main__":
    anyio.run(main)
