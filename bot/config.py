"""Settings: the one place that reads the environment (and `.env`).

`load_settings()` is called once by the CLI entry point; nothing reads settings at
import time. A bad value raises `ConfigError` with one clear line, which the CLI
prints and turns into exit code 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.ingest.ocr import OcrLimits

_REDIS_SCHEMES = {"redis", "rediss", "unix", "redis+cluster", "rediss+cluster"}


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "digestbot"


def _split_csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class Settings(BaseSettings):
    """Every setting the bot reads, each from the upper-case environment variable of
    its name (README.md and .env.example describe them)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Telegram
    telegram_bot_token: str = ""
    telegram_base_url: str = "https://api.telegram.org"
    admin_user_ids: str = ""

    # LLM
    openai_api_key: str = ""
    openai_base_url: str | None = None
    llm_model: str = "gpt-4.1-mini"
    llm_max_input_tokens: int = Field(default=6000, ge=800)
    llm_timeout_seconds: float = Field(default=30.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)

    # Storage
    redis_url: str | None = None
    bot_data_dir: Path = Field(default_factory=_default_data_dir)
    redis_prefix: str = "digestbot"
    article_cache_hours: int = Field(default=12, ge=1)
    digest_cache_days: int = Field(default=7, ge=1)
    context_ttl_days: int = Field(default=7, ge=1)
    # how long the content of an answered message is remembered, so an edit is answered
    # once per new content (an edit after that is answered as new)
    edit_memory_hours: int = Field(default=48, ge=1)

    # Fetching
    fetch_allow_hosts: str = ""

    # Limits
    summary_rate_per_minute: int = Field(default=10, ge=1)
    daily_token_budget: int = Field(default=200_000, ge=1000)
    # what a prompt token the LLM server read from its prefix cache costs the budget, as a
    # fraction of an ordinary one (OpenAI bills cached input at half price; a local
    # server's cached tokens cost almost no time: 0.1 fits llama.cpp, vLLM)
    llm_cached_input_price: float = Field(default=0.5, ge=0, le=1)
    # a translation's item requests start with the article's messages, like every other
    # request about it (a prompt cache rewards it); off: measured on a 1.5B model, the
    # article before the task cost it English and time (bot/summarize/translate.py)
    llm_translate_with_article: bool = False
    # commands a user may send in any 60 s (bot.limits.allow_command); then one notice
    commands_per_minute: int = Field(default=10, ge=1)
    # most parts of a long article the map step notes; the rest is cut (and said so)
    summary_max_parts: int = Field(default=8, ge=1, le=100)
    # reader worker processes (bot/readers/): how many, and the ceilings on each read's
    # deadline and memory growth (each reader declares its own, at most these)
    reader_workers: int = Field(default=2, ge=1, le=32)
    reader_seconds: float = Field(default=30.0, gt=0, le=600)
    reader_memory_mb: int = Field(default=400, ge=64)
    # Pictures and scans read by OCR (bot/ingest/ocr.py): pages read of one document,
    # seconds one page and one document may take, pixels a picture may have
    ocr_max_pages: int = Field(default=20, ge=1, le=200)
    ocr_page_seconds: float = Field(default=60.0, gt=0)
    ocr_document_seconds: float = Field(default=180.0, gt=0)
    ocr_max_megapixels: int = Field(default=40, ge=1, le=400)

    # Briefings
    feeds_file: Path | None = None
    feed_poll_minutes: int = Field(default=30, ge=1)
    feed_max_bytes: int = Field(default=1024 * 1024, ge=16 * 1024)  # a feed's body cap
    briefing_grace_hours: int = Field(default=6, ge=0, le=23)
    briefing_skip_empty: bool = False
    # how long a subscriber's briefings remember the stories they told (issue 23)
    briefing_memory_days: int = Field(default=7, ge=1, le=60)
    broadcast_rate: float = Field(default=25.0, gt=0)
    default_timezone: str = "UTC"

    # Webhook / production
    webhook_url: str | None = None
    webhook_secret: str = ""
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_max_concurrency: int = Field(default=32, ge=1)
    metrics_token: str = ""  # /metrics needs it (bearer or ?token=); see bot/telegram/health.py

    # Groups, channels and inline mode (issue 12)
    chat_admin_cache_seconds: int = Field(default=300, ge=0)
    group_messages_per_minute: int = Field(default=20, ge=1)
    inline_deadline_seconds: float = Field(default=4.0, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    def ocr_limits(self) -> OcrLimits:
        """The bounds of one OCR reading (bot/ingest/ocr.py)."""
        from bot.ingest.ocr import OcrLimits

        return OcrLimits(
            max_pixels=self.ocr_max_megapixels * 1_000_000,
            page_seconds=self.ocr_page_seconds,
            document_seconds=self.ocr_document_seconds,
            max_pages=self.ocr_max_pages,
        )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v

    @field_validator("redis_url", "openai_base_url", "webhook_url", "feeds_file", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in _REDIS_SCHEMES:
            raise ValueError("is not a redis:// URL")
        return v

    @field_validator("telegram_base_url", "openai_base_url", "webhook_url")
    @classmethod
    def _check_http_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("is not an http(s) URL")
        return v.rstrip("/")

    @field_validator("default_timezone")
    @classmethod
    def _check_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not an IANA time zone (for example Asia/Riyadh)") from None
        return v

    @field_validator("admin_user_ids")
    @classmethod
    def _check_admins(cls, v: str) -> str:
        for part in _split_csv(v):
            if not part.lstrip("-").isdigit():
                raise ValueError("must be comma-separated numeric Telegram user ids")
        return v

    # Derived views -------------------------------------------------------

    @property
    def admin_ids(self) -> frozenset[int]:
        return frozenset(int(p) for p in _split_csv(self.admin_user_ids))

    @property
    def allow_hosts(self) -> frozenset[str]:
        return frozenset(p.lower().strip("[]") for p in _split_csv(self.fetch_allow_hosts))

    @property
    def context_ttl(self) -> int:
        """CONTEXT_TTL_DAYS in seconds: how long articles, digest buttons and follow-up
        context are kept."""
        return self.context_ttl_days * 86400

    def require_webhook(self) -> None:
        """Raise ConfigError when webhook mode is asked for without its secret."""
        if self.webhook_url and not self.webhook_secret:
            raise ConfigError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")

    def require_token(self) -> None:
        if not self.telegram_bot_token:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and `.env`; raise ConfigError on a bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]).upper() if err.get("loc") else "setting"
        msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        if not msg.startswith(("is ", "must ")):
            msg = f"is invalid: {msg}"
        raise ConfigError(f"{field} {msg}") from None
