from typing import Optional

from pydantic import BaseModel


class UserBase(BaseModel):
    email: str
    full_name: Optional[str] = None
    is_active: bool = True
    is_superuser: bool = False


class UserCreate(UserBase):
    password: str


class UserRegister(BaseModel):
    email: str
    password: str
    full_name: Optional[str] = None


class UserUpdateMe(BaseModel):
    email: Optional[str] = None
    full_name: Optional[str] = None


class User(UserBase):
    id: int
    hashed_password: str


class UserPublic(UserBase):
    id: int


class ItemBase(BaseModel):
    title: str
    description: Optional[str] = None
    price_cents: int = 0


class ItemCreate(ItemBase):
    pass


class ItemUpdate(BaseModel):
    title: Optional[str] = None
    description: Optional[str] = None
    price_cents: Optional[int] = None


class ItemPublic(ItemBase):
    id: int
    owner_id: int


class Message(BaseModel):
    message: str


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class TokenPayload(BaseModel):
    sub: Optional[int] = None


class NewPassword(BaseModel):
    token: str
    new_password: str
