from relevance.io.text import clean_text, item_text, pack_windows, split_sentences


def test_clean_text_strips_tags_entities_controls_and_space():
    raw = "<p>Nato&#39;s  <b>expansion</b></p>\x00\x07 now\n\n "
    assert clean_text(raw) == "Nato's expansion now"
    assert clean_text("") == ""


def test_item_text_does_not_repeat_a_cut_title():
    summary = "The German government culls 500,000 birds, including chickens"
    assert item_text("The German government culls…", summary) == summary
    assert item_text("Stocks rally", "Markets rose.") == "Stocks rally. Markets rose."
    assert item_text("Is it over?", "Markets rose.") == "Is it over? Markets rose."
    assert item_text("Only a title", "") == "Only a title"


def test_split_sentences_keeps_every_word():
    text = "Mr. Blinken met Lavrov. They talked!\n\nA new paragraph here 2022. 100 troops moved."
    parts = split_sentences(text)
    assert parts[0].startswith("Mr.")
    assert " ".join(parts).split() == text.split()
    assert len(parts) >= 4


def test_pack_windows_covers_all_sentences_within_budget():
    sentences = [f"sentence {i} " + "word " * (i % 7) for i in range(40)]

    def count(texts):
        return [len(t.split()) for t in texts]

    windows = pack_windows(sentences, count, max_tokens=20)
    assert all(n <= 20 for n in count(windows))
    joined = " ".join(windows)
    for s in sentences:
        assert s.strip() in joined
    # consecutive windows overlap by one sentence
    assert len(windows) > 1


def test_pack_windows_cuts_a_sentence_longer_than_the_window():
    long = " ".join(f"w{i}" for i in range(100))
    windows = pack_windows([long], lambda ts: [len(t.split()) for t in ts], max_tokens=30)
    assert all(len(w.split()) <= 30 for w in windows)
    assert set(" ".join(windows).split()) == set(long.split())
