/**
 * A two-route FastAPI app (one public, one behind an OAuth2 dependency) for tests that need a
 * real project next to hostile input: the engine must still find both routes and their verdicts.
 */
export const SMALL_APP = `from fastapi import Depends, FastAPI
from fastapi.security import OAuth2PasswordBearer

app = FastAPI()
oauth2 = OAuth2PasswordBearer(tokenUrl="token")


@app.get("/open")
def open_route():
    return {"ok": True}


@app.get("/closed")
def closed_route(token: str = Depends(oauth2)):
    return {"token": token}
`;
