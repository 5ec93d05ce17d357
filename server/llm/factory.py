"""LangChain chat models built from settings (FR-011, FR-012, NFR-013).

The provider and model come from LLM_PROVIDER / LLM_MODEL, optionally overridden per project;
keys and base URLs come only from the environment. "openai" is OpenAI or any
OpenAI-compatible server (LLM_BASE_URL); "offline" is the rule-based baseline; any other name
is handed to LangChain's `init_chat_model`, which works when that provider's package is
installed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_openai import ChatOpenAI

from server.core.config import Settings
from server.llm.errors import FailureKind, LLMError

log = logging.getLogger(__name__)

OFFLINE = "offline"
OFFLINE_MODEL = "baseline"


@dataclass(frozen=True)
class ModelChoice:
    provider: str
    model: str


def available_providers(settings: Settings) -> frozenset[str]:
    """Providers a project may choose: the configured one, and the offline baseline unless
    LLM_ALLOW_OFFLINE_BASELINE forbids it."""
    if not settings.llm_allow_offline_baseline:
        return frozenset({settings.default_llm_provider})
    return frozenset({settings.default_llm_provider, OFFLINE})


def resolve_model(settings: Settings, override: Mapping[str, Any] | None = None) -> ModelChoice:
    """The model a project's prompts use: its own choice where it made one, else the
    server's."""
    override = override or {}
    provider = override.get("provider") or settings.default_llm_provider
    model = override.get("model") or (OFFLINE_MODEL if provider == OFFLINE else settings.llm_model)
    return ModelChoice(provider=provider, model=model)


def describe(settings: Settings) -> str:
    """One line for the logs: which provider and model calls go to by default."""
    provider = settings.default_llm_provider
    if provider == OFFLINE:
        return (
            "LLM: offline baseline (rule/keyword based, not a language model); set LLM_API_KEY "
            "or LLM_BASE_URL to use a model"
        )
    where = _without_credentials(settings.llm_base_url) or "the provider's API"
    return f"LLM: provider {provider}, model {settings.llm_model}, at {where}"


def _without_credentials(url: str | None) -> str | None:
    """The URL as it may be logged: a `user:key@` part (some gateways take the key so) is
    masked."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class ChatModels:
    """One chat model per (provider, model), built on first use and reused: a client holds a
    connection pool, and per-call settings (temperature, max_tokens, response format) are
    passed with each call instead."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._models: dict[ModelChoice, BaseChatModel] = {}

    def get(self, choice: ModelChoice) -> BaseChatModel:
        model = self._models.get(choice)
        if model is None:
            model = self._build(choice)
            self._models[choice] = model
        return model

    def _build(self, choice: ModelChoice) -> BaseChatModel:
        settings = self._settings
        api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        if choice.provider == OFFLINE:
            from server.llm.offline import OfflineChatModel

            return OfflineChatModel(model_name=choice.model)
        if choice.provider == "openai":
            if api_key is None and not settings.llm_base_url:
                raise LLMError(
                    FailureKind.CONFIGURATION,
                    "provider openai needs LLM_API_KEY (or OPENAI_API_KEY) or LLM_BASE_URL",
                )
            return ChatOpenAI(
                model=choice.model,
                # A local OpenAI-compatible server usually takes any key.
                api_key=api_key or "not-needed",
                base_url=settings.llm_base_url,
                timeout=settings.llm_timeout_seconds,
                # The gateway retries (tenacity): SDK retries would multiply the requests.
                max_retries=0,
            )
        return self._build_other(choice, api_key)

    def _build_other(self, choice: ModelChoice, api_key: str | None) -> BaseChatModel:
        from langchain.chat_models import init_chat_model

        settings = self._settings
        options: dict[str, Any] = {"timeout": settings.llm_timeout_seconds, "max_retries": 0}
        if api_key is not None:
            options["api_key"] = api_key
        if settings.llm_base_url:
            options["base_url"] = settings.llm_base_url
        try:
            model: BaseChatModel = init_chat_model(
                choice.model, model_provider=choice.provider, **options
            )
        except (ImportError, ValueError) as error:
            raise LLMError(
                FailureKind.CONFIGURATION,
                f"cannot use LLM provider {choice.provider!r}: {error}",
            ) from error
        return model
