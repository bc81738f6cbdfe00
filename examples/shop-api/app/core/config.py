from pydantic import BaseSettings


class Settings(BaseSettings):
    PROJECT_NAME: str = "Shop API"
    API_V1_STR: str = "/api/v1"
    ENVIRONMENT: str = "local"

    # FIXME: move to the deployment secrets before the launch.
    SECRET_KEY: str = "3f1c9a7e5b2d4f60a8c1e9b7d5f3a1c2e4b6d8f0a2c4e6b8"
    ALGORITHM: str = "HS256"
    ACCESS_TOKEN_EXPIRE_MINUTES: int = 60 * 24 * 8

    DATABASE_PATH: str = "shop.db"
    UPLOAD_DIR: str = "uploads"
    AUDIT_LOG: str = "audit.log"

    SMTP_HOST: str = "localhost"
    EMAILS_FROM: str = "shop@example.com"

    class Config:
        case_sensitive = True


settings = Settings()
