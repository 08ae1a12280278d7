"""HTML pages: modules by heading, marking, tabs and teasers; ads, self-links, errors."""
# ruff: noqa: E501  (the pages below are HTML, kept as publishers write it)

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relevance.io.formats import detect_format
from relevance.io.html import parse_html
from relevance.io.page import PageParseError
from relevance.io.reader import read_input

ARTICLE = """
<header><nav class="site-nav"><ul>
  <li><a href="/politics">Politics</a></li><li><a href="/world">World news</a></li>
  <li><a href="/business/markets">Business and markets today</a></li></ul></nav></header>
<main><article>
  <h1>River floods the old town after days of rain</h1>
  <div class="share-tools"><a href="https://facebook.com/sharer?u=x">Share this story on Facebook</a>
  <a href="#comments">Read all 120 comments below</a></div>
  <div class="article-body">
  <p>The river burst its banks on Monday after four days of heavy rain, flooding the old town
  and forcing hundreds of residents to leave their homes overnight.</p>
  <p>Emergency crews worked through the night to reinforce the levee, officials said, while
  volunteers filled sandbags in the market square and schools stayed closed.</p>
  {inbody}
  <p>Forecasters expect the water to fall slowly over the coming week, but warned that more
  rain could follow at the weekend and that the damage would take months to repair.</p>
  </div>
</article>
{modules}
</main>
<footer><ul><li><a href="/about">About us and our journalism</a></li>
<li><a href="/privacy">Privacy policy and cookies</a></li></ul></footer>
"""


def page(modules: str = "", inbody: str = "", head: str = "") -> str:
    return (
        f"<!DOCTYPE html><html><head><title>Floods</title>{head}</head><body>"
        + ARTICLE.replace("{modules}", modules).replace("{inbody}", inbody)
        + "</body></html>"
    )


CANONICAL = (
    '<link rel="canonical" href="https://news.example.com/2024/05/01/river-floods-old-town">'
)
RELATED = """
<aside class="sidebar"><section class="box">
  <h2>More on this story</h2>
  <ul>
    <li><a href="/2024/05/01/levee-holds-after-night-of-work">Levee holds after a night of work</a>
        <p class="summary">Crews say the barrier will last until the water falls.</p></li>
    <li><a href="/2024/05/02/schools-stay-closed-flood">Schools stay closed as the water rises</a></li>
    <li><a href="/2024/05/01/river-floods-old-town">River floods the old town after days of rain</a></li>
  </ul>
  <a href="/topics/floods">More »</a>
</section></aside>
"""


def test_module_by_heading_with_blurbs_links_and_a_self_link() -> None:
    p = parse_html(page(RELATED, head=CANONICAL), "floods.html")
    assert p.title == "River floods the old town after days of rain"
    assert p.body.startswith("The river burst its banks on Monday")
    assert "Levee holds" not in p.body and "More on this story" not in p.body
    assert [(i.module, i.title, i.self_link) for i in p.items] == [
        ("More on this story", "Levee holds after a night of work", False),
        ("More on this story", "Schools stay closed as the water rises", False),
        ("More on this story", "River floods the old town after days of rain", True),
    ]
    assert p.items[0].blurb == "Crews say the barrier will last until the water falls."
    assert p.items[0].href == "https://news.example.com/2024/05/01/levee-holds-after-night-of-work"
    assert not any("Facebook" in i.title or "comments" in i.title for i in p.items)


def test_sponsored_modules_and_ads_inside_a_module_are_dropped_and_counted() -> None:
    modules = """
    <section><h3>Related stories</h3><ul>
      <li><a href="/2024/05/03/dam-inspected-after-flood">Dam inspected after the flood</a></li>
      <li class="promoted"><a href="https://shop.example.org/deal-of-the-day">Deal of the day: boots</a></li>
      <li><span class="label">Sponsored</span>
          <a href="https://brand.example.org/insurance-2024">Is your home insured for floods?</a></li>
      <li><a href="https://paid.outbrain.com/network/redir?p=123">You won't believe this trick</a></li>
    </ul></section>
    <div class="OUTBRAIN" data-widget-id="AR_1"><h3>Around the web</h3>
      <a href="https://ads.example.net/click/123">Doctors stunned by this one habit</a>
      <a href="https://ads.example.net/click/456">Ten cars nobody wants to buy any more</a></div>
    <section><h3>Promoted stories</h3>
      <a href="https://x.example.net/a-promoted-story-1">A story someone paid us to show you</a>
      <a href="https://x.example.net/a-promoted-story-2">Another story someone paid for here</a>
    </section>
    """
    p = parse_html(page(modules, head=CANONICAL), "ads.html")
    assert [i.title for i in p.items] == ["Dam inspected after the flood"]
    dropped = {(d.module, d.reason): d.count for d in p.dropped}
    assert dropped[("Related stories", "sponsored")] == 3
    assert dropped[("Around the web", "sponsored")] == 2
    assert dropped[("Promoted stories", "sponsored")] == 2


def test_in_body_read_more_links_become_items_and_leave_the_text() -> None:
    inbody = """
    <p><strong>READ MORE:</strong> <a href="/2024/04/30/rain-warning-issued-for-region">Rain
       warning issued for the region</a></p>
    <p><a href="/2024/04/29/how-the-levee-was-built">How the town's levee was built in 1952</a></p>
    <p>Residents said <a href="/2024/04/28/mayor-visits">the mayor</a> had visited the square,
       where the water reached the steps of the town hall by the afternoon.</p>
    """
    p = parse_html(page(RELATED, inbody=inbody, head=CANONICAL), "readmore.html")
    titles = [(i.module.casefold(), i.title) for i in p.items]
    assert ("read more", "Rain warning issued for the region") in titles
    assert ("read more", "How the town's levee was built in 1952") in titles
    assert not any(t == "the mayor" for _, t in titles)  # a link in prose is article text
    assert "READ MORE" not in p.body and "Rain warning" not in p.body
    assert "levee was built" not in p.body
    assert "Residents said the mayor had visited the square" in p.body


def test_lists_marked_as_related_by_attributes() -> None:
    modules = """
    <div data-component="related-content" aria-label="Recommended reading">
      <div class="teaser"><a href="/2024/05/04/insurers-count-flood-costs">Insurers count the
         cost of the floods</a></div>
      <div class="teaser"><a href="/2024/05/04/farmers-lose-spring-crops">Farmers lose their
         spring crops to the water</a></div>
    </div>
    """
    p = parse_html(page(modules), "marked.html")
    assert [(i.module, i.title) for i in p.items] == [
        ("Recommended reading", "Insurers count the cost of the floods"),
        ("Recommended reading", "Farmers lose their spring crops to the water"),
    ]


def test_tabbed_module_names_each_panel() -> None:
    modules = """
    <div class="popular"><ul class="tabs" role="tablist">
      <li><a href="#most-read">Most read</a></li><li><a href="#most-shared">Most shared</a></li></ul>
    <div id="most-read"><ol>
      <li><a href="/2024/05/01/election-date-set">Election date set for the autumn</a></li>
      <li><a href="/2024/05/01/striker-signs-new-deal">Striker signs a new three-year deal</a></li>
    </ol></div>
    <div id="most-shared"><ol>
      <li><a href="/2024/04/30/cat-rescued-from-tree">Cat rescued from the tallest tree</a></li>
    </ol></div></div>
    """
    p = parse_html(page(modules), "tabs.html")
    got = {(i.module, i.title) for i in p.items}
    assert ("Most read", "Election date set for the autumn") in got
    assert ("Most shared", "Cat rescued from the tallest tree") in got
    assert len(p.items) == 3


def test_a_tab_that_names_no_module_takes_the_heading_of_its_box() -> None:
    modules = """
    <div class="widget"><h3>Most Popular Content</h3>
    <ul class="tabs"><li><a href="#pop-read">Most read</a></li><li><a href="#pop-mail">Emailed</a></li></ul>
    <div id="pop-read"><ol>
      <li><a href="/2024/05/01/election-date-set">Election date set for the autumn</a></li></ol></div>
    <div id="pop-mail"><ol>
      <li><a href="/2024/04/30/cat-rescued-from-tree">Cat rescued from the tallest tree</a></li>
      <li><a href="/2024/04/29/bakery-wins-prize">Bakery on the square wins a national prize</a></li>
    </ol></div></div>
    """
    p = parse_html(page(modules), "boxtabs.html")
    got = {i.title: i.module for i in p.items}
    assert got["Election date set for the autumn"] == "Most read"
    assert got["Cat rescued from the tallest tree"] == "Most Popular Content"
    assert got["Bakery on the square wins a national prize"] == "Most Popular Content"


def test_a_marked_list_is_titled_by_its_leading_text() -> None:
    modules = """
    <div class="recirc-list-wrapper"><div class="summary-list__heading"><span>Picked for you tonight</span></div>
      <ul><li><a href="/2024/05/04/insurers-count-flood-costs">Insurers count the cost of the floods</a></li>
      <li><a href="/2024/05/04/farmers-lose-spring-crops">Farmers lose their spring crops</a></li></ul>
    </div>
    """
    p = parse_html(page(modules), "leadtext.html")
    assert {i.module for i in p.items} == {"Picked for you tonight"}  # not "Recirc"
    assert len(p.items) == 2


def test_a_run_of_teaser_cards_without_a_heading() -> None:
    cards = "".join(
        f'<article class="card"><a href="/2024/05/0{n}/story-number-{n}-here">'
        f"<h3>Story number {n} about something else</h3></a><p>Teaser text of story "
        f"number {n}, one line.</p></article>"
        for n in range(1, 5)
    )
    p = parse_html(page(f'<section class="grid">{cards}</section>'), "cards.html")
    assert [i.title for i in p.items] == [
        f"Story number {n} about something else" for n in range(1, 5)
    ]
    assert p.items[0].blurb == "Teaser text of story number 1, one line."


def test_sub_headings_of_lower_rank_stay_inside_the_module() -> None:
    modules = """
    <div class="box"><h3>Related</h3>
      <h4>Stories</h4><h2><a href="/2024/05/01/first-related">First related story here</a></h2>
      <h4>Blog</h4><h2><a href="/2024/05/01/second-related">Second related story here</a></h2>
    </div>
    <div class="box"><h3>Latest in Sport</h3>
      <h2><a href="/2024/05/01/cup-final-tonight">Cup final kicks off tonight</a></h2></div>
    """
    p = parse_html(page(modules), "ranks.html")
    assert [(i.module, i.title) for i in p.items] == [
        ("Related", "First related story here"),
        ("Related", "Second related story here"),
        ("Latest in Sport", "Cup final kicks off tonight"),
    ]


def test_no_module_is_a_clear_error_naming_the_page_and_its_headings() -> None:
    html = page("<section><h2>Comments</h2><p>Be the first to comment.</p></section>")
    with pytest.raises(PageParseError) as err:
        parse_html(html, "lonely.html")
    msg = str(err.value)
    assert msg.startswith("lonely.html: no recommended-stories list found")
    assert "'River floods the old town after days of rain'" in msg and "'Comments'" in msg


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n", b"<html></html>", b"<!DOCTYPE html><html><body></body></html>", b"\x00\xff"],
)
def test_empty_or_markup_only_html_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(PageParseError) as err:
        parse_html(data, "empty.html")
    assert str(err.value).startswith("empty.html")


def test_encodings_declared_or_not() -> None:
    text = page(RELATED).replace("days of rain", "days of rain — café")
    latin = text.replace("—", "-").encode("cp1252")
    latin = latin.replace(b"<head>", b'<head><meta charset="windows-1252">')
    assert "café" in parse_html(latin, "x.html").title
    assert "café" in parse_html(text.encode("utf-8"), "x.html").title
    assert "café" in parse_html(b"\xef\xbb\xbf" + text.encode("utf-8"), "x.html").title


def test_html_given_as_txt_is_read_as_html(tmp_path: Path) -> None:
    path = tmp_path / "saved page.txt"
    path.write_text(page(RELATED, head=CANONICAL), encoding="utf-8")
    assert detect_format(path) == "html"
    frame = read_input(path)
    assert frame["feed_id"].iat[0] == "saved page"
    assert list(frame["module"]) == ["More on this story"] * 3
    assert list(frame["self_link"]) == [False, False, True]
    assert not frame["article_title"].str.contains("<").any()


@pytest.mark.parametrize("suffix", [".html", ".htm"])
def test_html_suffixes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"p{suffix}"
    path.write_text(page(RELATED), encoding="utf-8")
    assert detect_format(path) == "html"


def test_forced_page_format_on_html_is_a_clear_error(tmp_path: Path) -> None:
    from relevance.io.errors import InputError

    path = tmp_path / "p.html"
    path.write_text(page(RELATED), encoding="utf-8")
    with pytest.raises((PageParseError, InputError), match="this is HTML, not a text page"):
        read_input(path, fmt="page")


def test_jsonl_items_with_module_and_href_pass_through(tmp_path: Path) -> None:
    feed = {
        "feed_id": "f1",
        "article": {"title": "Flood", "body": "River flood rain."},
        "items": [
            {"id": "a", "title": "Levee holds", "module": "Related", "href": "https://e.com/a"},
            {"id": "b", "title": "Dam inspected", "self_link": True},
        ],
    }
    path = tmp_path / "feeds.jsonl"
    path.write_text(json.dumps(feed) + "\n", encoding="utf-8")
    frame = read_input(path)
    assert list(frame["module"]) == ["Related", None]
    assert list(frame["href"]) == ["https://e.com/a", None]
    assert list(frame["self_link"]) == [None, True]


def test_a_bad_extra_field_is_an_item_problem(tmp_path: Path) -> None:
    from relevance.io.errors import InputError

    feed = {
        "feed_id": "f1",
        "article": {"title": "Flood"},
        "items": [{"id": "a", "title": "x", "module": 3}],
    }
    path = tmp_path / "feeds.jsonl"
    path.write_text(json.dumps(feed) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"items\.0\.module.*a string"):
        read_input(path)


def test_the_headline_is_not_repeated_as_the_first_paragraph() -> None:
    from relevance.io.html import read_html

    pages = sorted((Path(__file__).parent / "fixtures" / "pages").glob("*.html"))
    assert len(pages) >= 15
    for path in pages:  # natgeo, pcgamer and TIME print it again at the top of the body
        parsed = read_html(path)
        first = parsed.body.split("\n\n")[0]
        assert first.casefold().rstrip(".") != parsed.title.casefold().rstrip("."), path.name
