"""Properties of the normaliser on text made of the forms it reads, glued together in any
order: it never crashes, spells every digit, and its output reads as itself again. (The
plain-Unicode fuzz is in test_fuzz.py.)"""

from hypothesis import HealthCheck, given, settings, strategies as st

from mtts.text.normalize import explain, normalize

FORMS = ["Dr.", "$3.50", "1990s", "3rd", "12:30", "%", "&", "St.", "£5", "naïve", "😀", "1,000,000", "A.", "!!",
         "hello", "FBI", "U.S.", "Henry", "VIII", "I", "Chapter", "IV", "-", "–", "—", "5", "kg", "km/h", "/", "3/4",
         "July", "25", "2012", "a.m.", "pm", "EST", "555-1234", "john@x.com", "www.a.com", "No.", "'90s", "'", '"',
         "(", ")", "1.5", "-2", "$", "€", "¥", "m", "°C", "²", "½", "Mr", "THE", "AND", "NASA", "e.g.", ".", ",",
         "#", "@", "+", "0", "007", "12KG", "mbps", "million", "b", "per", "Co.", "v.", "5'11\"", "\u0301", "of",
         "May", "Sept.", "jul", "10-20", "9am-5pm", "COVID-19", "1:30:05", "+44", "(555)", "123-4567", "x", "Mon",
         "99p", "ext.", "x204", "±", "5-km", '15"', "1400", "hours", "vs", "49ers", "1.5M", "users", "Dial", "999",
         "Wed.", "Pvt.", "1/3rd", "III", "Mark", "(0)", "Est.", "40C", "hit", "4.5/5", "9.58s",
         "5s.", "6d.", "10s", "Tex.", "Dallas,", "Rt.", "Hon."]
glue = st.sampled_from([" ", "", " ", "-", ".", "/", ",", ":"])
sentences = st.lists(st.tuples(st.sampled_from(FORMS), glue), max_size=14).map(
    lambda parts: "".join(a + b for a, b in parts))


@given(sentences)
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_forms_glued_together_read_as_themselves_again(text):
    out, spans = explain(text)
    assert "  " not in out and out == out.strip()
    assert not any(c.isdigit() for c in out if c.isascii())
    assert normalize(out) == out
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))   # spans never overlap
