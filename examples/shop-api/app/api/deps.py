import sqlite3
from typing import Generator

from fastapi import Depends, HTTPException, status
from jose import JWTError
from pydantic import ValidationError

from app.core import security
from app.core.db import connect
from app.schemas import TokenPayload, User


def get_db() -> Generator[sqlite3.Connection, None, None]:
    conn = connect()
    try:
        yield conn
    finally:
        conn.close()


def get_current_user(
    db: sqlite3.Connection = Depends(get_db),
    token: str = Depends(security.oauth2_scheme),
) -> User:
    credentials_exception = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        payload = security.decode_access_token(token)
        token_data = TokenPayload(**payload)
    except (JWTError, ValidationError):
        raise credentials_exception
    row = db.execute("SELECT * FROM users WHERE id = ?", (token_data.sub,)).fetchone()
    if row is None:
        raise credentials_exception
    return User(**dict(row))


def get_current_active_user(current_user: User = Depends(get_current_user)) -> User:
    if not current_user.is_active:
        raise HTTPException(status_code=400, detail="Inactive user")
    return current_user


def get_current_active_superuser(current_user: User = Depends(get_current_active_user)) -> User:
    if not current_user.is_superuser:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="The user doesn't have enough privileges",
        )
    return current_user
