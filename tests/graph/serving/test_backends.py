"""Backend probing: vLLM's metrics, capacity, tokenizers, health."""

from __future__ import annotations

import aiohttp
import pytest

from glia.graph.serving.backends import count_tokens, discover, parse_metrics, probe
from tests.support.emulated_backend import EmulatedBackend

VLLM_TEXT = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 2.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 4.0
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{engine="0",model_name="m"} 0.25
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="32",cache_dtype="auto",enable_prefix_caching="True",num_gpu_blocks="2756"} 1.0
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="m"} 7.0
"""


def test_vllm_gauges_are_summed_over_engines_and_the_capacity_read_from_cache_config_info():
    s = parse_metrics(VLLM_TEXT)
    assert (s.running, s.waiting, s.num_gpu_blocks, s.block_size, s.preemptions) == (5.0, 4.0, 2756, 32, 7.0)
    assert s.kv_usage == 0.25  # the deprecated name is read when kv_cache_usage_perc is absent


def test_the_current_kv_usage_name_wins_over_the_deprecated_one():
    text = VLLM_TEXT + '# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{engine="0"} 0.5\n'
    assert parse_metrics(text).kv_usage == 0.5


@pytest.mark.loopback
async def test_a_vllm_like_backend_is_discovered_with_its_blocks_tokenizer_and_live_gauges():
    be = EmulatedBackend(num_blocks=77, block_size=8)
    url = await be.start()
    try:
        async with aiohttp.ClientSession() as s:
            b = await discover(s, 0, url)
            assert (b.kind, b.config.num_blocks, b.config.block_size, b.tokenizer) == ("vllm-metrics", 77, 8, "vllm")
            assert b.capacity_source == "vllm:cache_config_info"
            assert await count_tokens(s, b, "one two three") == 3
            assert await probe(s, b) and b.last_scrape.running == 0.0 and b.last_scrape.kv_usage == 0.0
    finally:
        await be.stop()


@pytest.mark.loopback
async def test_a_backend_without_metrics_gets_the_stated_capacity_and_a_dead_one_fails_its_probe():
    be = EmulatedBackend(flavour="llama-cpp-python")
    url = await be.start()
    async with aiohttp.ClientSession() as s:
        b = await discover(s, 0, url, kv_tokens=4096)
        assert (b.kind, b.config.num_blocks, b.config.batch_size_cap, b.tokenizer) == ("llama-cpp-python", 256, 1,
                                                                                       "extras")
        assert b.capacity_source == "--kv-tokens 4096"
        assert await probe(s, b)  # a 404 on /health proves the server alive
        await be.crash()
        assert not await probe(s, b) and b.last_error
        with pytest.raises(ConnectionError, match="does not answer"):
            await discover(s, 1, url, kv_tokens=4096)
