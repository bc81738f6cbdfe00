from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/token",
    scopes={"items:write": "Change items", "admin": "Administer the shop"},
)


def decode_token(token: str) -> dict:
    # Stand-in for jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])
    if not token:
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Invalid token")
    return {"sub": token, "scopes": []}


def get_current_user(token: str = Depends(oauth2_scheme)) -> dict:
    return decode_token(token)


def get_scoped_user(security_scopes: SecurityScopes, token: str = Depends(oauth2_scheme)) -> dict:
    payload = decode_token(token)
    for scope in security_scopes.scopes:
        if scope not in payload["scopes"]:
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Not enough permissions")
    return payload
