"""The chat: conversations in the database (round trip), and the follow-up rewrite's prompt and cleaning."""

from __future__ import annotations

import pytest

from core.retrieval import chat
from core.store import conversations


def test_a_conversation_round_trips_through_the_database():
    first = conversations.create_conversation("lumenfold")
    sources = [{"rank": 1, "score": 0.5, "chunk": {"text": "Two years.", "source": "policy-warranty.md", "page": 1,
                                                     "position": 3, "start": 0, "end": 10, "tokens": 3, "context": "w"}}]
    assert conversations.append_turn(first, "user", "How long is the H2 warranty?") == 0
    assert conversations.append_turn(first, "assistant", "Two years [1].", sources=sources, meta={"retrieval": True}) == 1
    assert conversations.append_turn(first, "user", "And for batteries?", rewritten="How long is the battery warranty?") == 2
    second = conversations.create_conversation("mine", "Another chat")
    loaded = conversations.load_conversation(first)
    assert loaded["title"] == "How long is the H2 warranty?" and loaded["collection"] == "lumenfold"
    assert [(t["role"], t["content"], t["rewritten"]) for t in loaded["turns"]] == [
        ("user", "How long is the H2 warranty?", None), ("assistant", "Two years [1].", None),
        ("user", "And for batteries?", "How long is the battery warranty?")]
    assert loaded["turns"][1]["sources"] == sources and loaded["turns"][1]["meta"] == {"retrieval": True}
    assert [(c["id"], c["turns"]) for c in conversations.list_conversations()] == [(second, 0), (first, 3)]
    conversations.append_turn(second, "user", "Hello?")
    conversations.append_turn(first, "assistant", "Six months.")  # continued last: listed first
    assert [c["id"] for c in conversations.list_conversations()] == [first, second]
    conversations.delete_conversation(first)
    assert [c["id"] for c in conversations.list_conversations()] == [second]
    with pytest.raises(KeyError, match="No conversation"):
        conversations.load_conversation(first)
    with pytest.raises(ValueError, match="role must be one of user, assistant"):
        conversations.append_turn(second, "system", "x")


@pytest.fixture(scope="module")
def wide(tiny_wide_dir):
    """The tiny model with a 2,048-token window (its byte-level tokenizer makes every prompt long)."""
    from core.models import load_model

    return load_model(str(tiny_wide_dir), precision="float32")


HISTORY = [{"role": "user", "content": "How much does a HiveScale H2 cost?"},
           {"role": "assistant", "content": "The HiveScale H2 costs €189 [1]."}]


def test_the_rewrite_prompt_holds_the_earlier_turns_and_the_question(wide):
    text = wide.tokenizer.decode(chat.rewrite_prompt(wide, HISTORY, "How heavy is it?"))
    assert chat.REWRITE_INSTRUCTION in text
    conversation = text[text.index("Conversation:\nUser: How much does a HiveScale"):]
    assert "User: How much does a HiveScale H2 cost?\nAssistant: The HiveScale H2 costs €189 [1]." in conversation
    assert conversation.index("HiveScale H2 costs") < conversation.index("Last question: How heavy is it?")


def test_old_turns_are_dropped_to_fit_the_context_window(wide):
    long_history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "wordy " * 66} for i in range(6)]
    ids = chat.rewrite_prompt(wide, long_history, "And then?")
    text = wide.tokenizer.decode(ids)
    assert len(ids) + chat.REWRITE_TOKENS <= wide.info.context_window
    assert "turn 0" not in text and "turn 5" in text and "Last question: And then?" in text


def test_a_first_question_is_searched_as_typed(tiny_loaded):
    assert chat.rewrite_question(tiny_loaded, [], "  How long is the H2 warranty? ") == "How long is the H2 warranty?"


@pytest.mark.parametrize("reply, expected", [
    ("Standalone question: How heavy is the HiveScale H2?\nMore text", "How heavy is the HiveScale H2?"),
    ('"How heavy is the HiveScale H2?"', "How heavy is the HiveScale H2?"),
    ("The HiveScale H2 weighs 3.8 kg.", "How much does a HiveScale H2 cost? How heavy is it?"),  # answered: fall back
    ("", "How much does a HiveScale H2 cost? How heavy is it?"),
])
def test_a_reply_that_is_not_a_question_falls_back_to_both_questions(reply, expected):
    assert chat.clean_rewrite(reply, "How heavy is it?", "How much does a HiveScale H2 cost?") == expected
