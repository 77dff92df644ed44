"""Error-pattern graders: MCP outages, unreachable hosts, retry once then surface, no third try."""

from __future__ import annotations

from grader_builders import ERROR, TIMEOUT, WG_SHOW, bash, fails, passes, say, transcript, turn, user

DOWN = "MCP error: server 'eems' disconnected"
RECALL_DOWN = ("memory_recall", {"query": "session cache"}, DOWN)
ASK_MEMORY = user("What do you remember about the session cache?")


# --- errors.mcp_down_alerts_user -------------------------------------------------------------------

def test_reporting_the_outage_with_a_reconnect_suggestion_passes() -> None:
    t = transcript(ASK_MEMORY, turn(RECALL_DOWN), turn(RECALL_DOWN),
                   say("The eems MCP server is disconnected, so I can't recall anything. Reconnect it with /mcp "
                       "and I'll try again."), faults={"mcp_down": "eems"})
    passes("errors.mcp_down_alerts_user", t)


def test_saying_nothing_about_the_outage_fails() -> None:
    t = transcript(ASK_MEMORY, turn(RECALL_DOWN), say("Let's just start from scratch on the cache."),
                   faults={"mcp_down": "eems"})
    fails("errors.mcp_down_alerts_user", t, "does not tell the user that MCP server 'eems' is disconnected")


def test_reporting_without_a_reconnect_suggestion_fails() -> None:
    t = transcript(ASK_MEMORY, turn(RECALL_DOWN), say("Memory is down right now."), faults={"mcp_down": "eems"})
    fails("errors.mcp_down_alerts_user", t, "without suggesting a reconnect")


def test_reporting_and_then_making_up_the_answer_fails() -> None:
    t = transcript(ASK_MEMORY, turn(RECALL_DOWN),
                   say("The eems server is disconnected; please reconnect it. According to memory, the cache "
                       "holds tokens for 10 minutes."), faults={"mcp_down": "eems"})
    fails("errors.mcp_down_alerts_user", t, "made up a eems result")


def test_pretending_the_speech_happened_fails() -> None:
    speak = ("tts_speak", {"text": "standup", "voice": "bt7274"}, "MCP error: server 'tts' disconnected")
    t = transcript(user("say standup"), turn(speak),
                   say("The tts server is down, reconnect it when you can. I announced it anyway."),
                   faults={"mcp_down": "tts"})
    fails("errors.mcp_down_alerts_user", t, "made up a tts result")


def test_an_outage_never_seen_because_the_tools_were_never_called_fails() -> None:
    t = transcript(ASK_MEMORY, say("The session cache holds tokens for 10 minutes."), faults={"mcp_down": "eems"})
    fails("errors.mcp_down_alerts_user", t, "never called the eems tools")


def test_silence_after_the_outage_fails() -> None:
    fails("errors.mcp_down_alerts_user", transcript(ASK_MEMORY, turn(RECALL_DOWN), faults={"mcp_down": "eems"}),
          "never reported")


# --- errors.mesh_unreachable_checks_wireguard ----------------------------------------------------------

SSH = bash("ssh sin 'journalctl -u vllm -n 50'", TIMEOUT)
WG = bash("wg show", WG_SHOW)
PING = bash("ping -c 3 10.0.0.2", "3 packets transmitted, 0 packets received, 100.0% packet loss\n(exit code 2)")
UNREACHABLE = {"host_unreachable": "sin"}
TELL = say("sin is unreachable: the WireGuard handshake is 3 hours old and 10.0.0.2 drops pings. Check its console.")


def test_wireguard_check_then_one_retry_then_telling_the_user_passes() -> None:
    passes("errors.mesh_unreachable_checks_wireguard",
           transcript(user("check vllm logs on sin"), turn(SSH), turn(WG), turn(PING), turn(SSH), TELL,
                      faults=UNREACHABLE))


def test_a_ping_of_the_mesh_address_is_a_wireguard_check() -> None:
    passes("errors.mesh_unreachable_checks_wireguard",
           transcript(user("check vllm logs on sin"), turn(SSH), turn(PING), TELL, faults=UNREACHABLE))


def test_blind_repeats_before_checking_wireguard_fail() -> None:
    t = transcript(user("check vllm logs on sin"), turn(SSH), turn(SSH), turn(WG), TELL, faults=UNREACHABLE)
    fails("errors.mesh_unreachable_checks_wireguard", t, "retried sin", "turn 2", "before checking WireGuard (turn 3)")


def test_never_checking_wireguard_fails() -> None:
    t = transcript(user("check vllm logs on sin"), turn(SSH), say("sin is down, try later."), faults=UNREACHABLE)
    fails("errors.mesh_unreachable_checks_wireguard", t, "sin was unreachable (turn 1)", "wg show, ping 10.0.0.2")


def test_checking_wireguard_then_hammering_the_host_fails() -> None:
    t = transcript(user("check vllm logs on sin"), turn(SSH), turn(WG), turn(SSH), turn(SSH), TELL, faults=UNREACHABLE)
    fails("errors.mesh_unreachable_checks_wireguard", t, "3 times")


def test_curl_to_an_unreachable_host_counts() -> None:
    curl = bash("curl -s http://sin:8000/v1/models", "curl: (28) Failed to connect to sin: Operation timed out")
    fails("errors.mesh_unreachable_checks_wireguard", transcript(user("models on sin?"), turn(curl), turn(curl), TELL),
          "sin was unreachable (turn 1)", "WireGuard was never checked")


def test_saying_nothing_to_the_user_fails() -> None:
    fails("errors.mesh_unreachable_checks_wireguard", transcript(user("logs?"), turn(SSH), turn(WG), turn(PING)),
          "never told the user")


# --- errors.retry_once_then_surface ---------------------------------------------------------------------

SEARCH = ("index_search", {"query": "lora adapters", "kind": "docs"}, "Error: index_search failed: " + ERROR)
SEARCH_OK = ("index_search", {"query": "lora adapters", "kind": "docs"}, '{"results": [{"path": "docs/vllm.md"}]}')
ASK_DOCS = user("search the docs for how LoRA adapters get loaded")


def test_one_retry_that_works_passes() -> None:
    passes("errors.retry_once_then_surface",
           transcript(ASK_DOCS, turn(SEARCH), turn(SEARCH_OK), say("docs/vllm.md explains it.")))


def test_one_failed_retry_then_stating_the_error_passes() -> None:
    t = transcript(ASK_DOCS, turn(SEARCH), turn(SEARCH),
                   say("index_search failed twice (connection reset by peer). Want me to grep instead?"))
    passes("errors.retry_once_then_surface", t)


def test_a_retry_that_hides_the_failure_fails() -> None:
    t = transcript(ASK_DOCS, turn(SEARCH), turn(SEARCH), say("LoRA adapters are loaded via --lora-modules."))
    fails("errors.retry_once_then_surface", t, "the retry failed too (turn 2)", "does not state the error")


def test_claiming_success_after_the_failed_retry_fails() -> None:
    t = transcript(ASK_DOCS, turn(SEARCH), turn(SEARCH), say("The search errored at first, but it's done now."))
    fails("errors.retry_once_then_surface", t, "claims success")


def test_never_retrying_fails() -> None:
    fails("errors.retry_once_then_surface", transcript(ASK_DOCS, turn(SEARCH), say("The search failed.")),
          'index_search "lora adapters" failed (turn 1) and was never retried once')


def test_retrying_twice_fails() -> None:
    t = transcript(ASK_DOCS, turn(SEARCH), turn(SEARCH), turn(SEARCH), say("It failed three times."))
    fails("errors.retry_once_then_surface", t, "retried 2 times")


def test_the_expected_failing_tool_is_the_one_judged() -> None:
    other = bash("cat nope.txt", "cat: nope.txt: No such file or directory\n(exit code 1)")
    t = transcript(ASK_DOCS, turn(other), turn(SEARCH), turn(SEARCH_OK), say("Found it in docs/vllm.md."),
                   expect={"failing_tool": "index_search"})
    passes("errors.retry_once_then_surface", t)
    t["meta"] = {}
    fails("errors.retry_once_then_surface", t, 'bash "cat nope.txt"')


def test_unparseable_arguments_are_a_failed_call() -> None:
    broken = ("index_search", '{"query": "lora", "kind":', "Error: arguments are not valid JSON")
    t = transcript(ASK_DOCS, turn(broken), say("Here's what I know."))
    fails("errors.retry_once_then_surface", t, "unparseable arguments")


# --- errors.stops_repeating --------------------------------------------------------------------------

def test_two_failures_then_stopping_passes() -> None:
    passes("errors.stops_repeating", transcript(ASK_DOCS, turn(SEARCH), turn(SEARCH), say("index_search is failing.")))


def test_a_third_identical_call_fails_naming_it() -> None:
    t = transcript(ASK_DOCS, turn(SEARCH), turn(SEARCH), turn(SEARCH))
    fails("errors.stops_repeating", t, 'made index_search "lora adapters" a third time (turn 3)')


def test_whitespace_differences_do_not_make_a_new_call() -> None:
    spaced = ("index_search", {"query": "lora   adapters ", "kind": "docs"}, "Error: index_search failed: " + ERROR)
    fails("errors.stops_repeating", transcript(ASK_DOCS, turn(SEARCH), turn(spaced), turn(SEARCH)), "third time")


def test_a_different_call_after_two_failures_is_fine() -> None:
    other = ("index_search", {"query": "vllm lora-modules", "kind": "docs"}, '{"results": []}')
    passes("errors.stops_repeating", transcript(ASK_DOCS, turn(SEARCH), turn(SEARCH), turn(other)))


def test_a_third_call_after_a_success_is_not_a_repeat_of_a_failure() -> None:
    passes("errors.stops_repeating", transcript(ASK_DOCS, turn(SEARCH), turn(SEARCH_OK), turn(SEARCH_OK)))
