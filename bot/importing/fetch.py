"""Leaderboards fetched from the bot a community leaves (MEE6's public one, Amari's with an API
key): pages of 1,000 until a short one, backoff on 429 honouring Retry-After, one line for a private
or missing leaderboard."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.importing import sources as src

MAX_PAGES = 2_000  # 2,000 pages of 1,000: a leaderboard of two million members at most
FETCH_TIMEOUT_S = 30
MAX_RETRIES = 6
MAX_WAIT_S = 300  # a Retry-After longer than this ends the fetch with a line saying so

Report = Callable[[int, int], Awaitable[None]]


class ImportFailed(Exception):
    """One clear line for the admin; nothing (more) was written."""


async def fetch(url: str, source: src.Source, *, api_key: str | None = None, report: Report | None = None) -> bytes:
    """A leaderboard fetched page by page (pages of 1,000 until a short one), with backoff on 429
    honouring Retry-After; MEE6's private leaderboard (401) is one line saying what to change."""
    if source not in ("mee6", "amari"):
        raise ImportFailed(f"{source} has no leaderboard to fetch: export a file from it and import that")
    if source == "amari" and not api_key:
        raise ImportFailed("Amari's API needs a key: pass --api-key (from Amari's dashboard)")
    headers = {"Authorization": api_key} if api_key else {}
    key = "players" if source == "mee6" else "data"
    pages: list[dict[str, Any]] = []
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        for page in range(MAX_PAGES):
            body = await _get_page(session, url, source, page)
            items = body.get(key)
            if not isinstance(items, list):
                raise ImportFailed(f"{url} did not answer with a {source} leaderboard (no `{key}` list)")
            pages.append(body)
            if report is not None:
                await report(sum(len(p[key]) for p in pages), 0)
            if len(items) < 1000:
                break
        else:
            raise ImportFailed(f"{url} has more than {MAX_PAGES:,} pages; export a file instead")
    return json.dumps(src.merge_pages(pages, key)).encode()


async def _get_page(session: aiohttp.ClientSession, url: str, source: str, page: int) -> dict[str, Any]:
    sep = "&" if "?" in url else "?"
    target = f"{url}{sep}page={page}&limit=1000"
    delay = 1.0
    for attempt in range(MAX_RETRIES + 1):
        try:
            async with session.get(target) as response:
                if response.status == 429 and attempt < MAX_RETRIES:
                    wait = _retry_after(response, await _json_or_none(response))
                    if wait is not None and wait > MAX_WAIT_S:
                        raise ImportFailed(f"{source} asks to wait {wait:,.0f} s (rate limited); try again later")
                    await asyncio.sleep(wait if wait is not None else delay)
                    delay = min(delay * 2, 60)
                    continue
                if response.status == 401 and source == "mee6":
                    raise ImportFailed(
                        "MEE6 says this server's leaderboard is private: in MEE6's dashboard, open Leaderboard "
                        "and make it public (or export it), then run the import again"
                    )
                if response.status in (401, 403):
                    raise ImportFailed(f"{source} refused the request ({response.status}): check the API key")
                if response.status == 404:
                    raise ImportFailed(f"{source} has no leaderboard at {url} (404): check the server id")
                if response.status >= 400:
                    raise ImportFailed(f"{source} answered {response.status} for page {page}; try again later")
                body = await _json_or_none(response)
                if not isinstance(body, dict):
                    raise ImportFailed(f"{source} answered page {page} with something that is not JSON")
                return body
        except (aiohttp.ClientError, TimeoutError) as error:
            if attempt >= MAX_RETRIES:
                raise ImportFailed(f"could not fetch {url}: {error or type(error).__name__}") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60)
    raise ImportFailed(f"{source} kept answering 429 (rate limited) for page {page}; try again later")


async def _json_or_none(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return None


def _retry_after(response: aiohttp.ClientResponse, body: Any) -> float | None:
    for value in (response.headers.get("Retry-After"), body.get("retry_after") if isinstance(body, dict) else None):
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return seconds
    return None
