import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

partners = FastAPI(title="Partner gateway")
GATEWAY_KEY = os.environ["GATEWAY_KEY"]


@partners.middleware("http")
async def require_gateway_key(request: Request, call_next):
    if request.headers.get("X-Gateway-Key") != GATEWAY_KEY:
        return JSONResponse(status_code=401, content={"detail": "Missing or invalid gateway key"})
    return await call_next(request)


@partners.get("/orders")
def list_partner_orders() -> list:
    return []
