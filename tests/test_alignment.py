import torch
from monotonic_alignment_search import maximum_path

from mtts.tasks.alignment import beta_binomial_log_prior, forward_sum_loss
from mtts.tasks.base import expand, phoneme_average


def test_mas_is_monotonic_and_durations_sum_to_frames():
    torch.manual_seed(0)
    text_lens, feats_lens = torch.tensor([7, 4]), torch.tensor([30, 11])
    N, T = 7, 30
    scores = torch.randn(2, N, T)
    mask = (torch.arange(N)[None, :, None] < text_lens[:, None, None]) & \
           (torch.arange(T)[None, None, :] < feats_lens[:, None, None])
    path = maximum_path(scores.masked_fill(~mask, -1e4), mask)
    durations = path.sum(-1)
    assert durations.sum(1).tolist() == feats_lens.tolist()
    for b in range(2):
        n, t = int(text_lens[b]), int(feats_lens[b])
        assert (durations[b, :n] >= 1).all()              # every token gets a frame
        assert (path[b].sum(0)[:t] == 1).all()            # every frame has one token
        token_of_frame = path[b, :n, :t].argmax(0)
        assert (token_of_frame.diff() >= 0).all() and (token_of_frame.diff() <= 1).all()


def test_beta_binomial_prior_is_a_distribution_over_tokens_peaking_on_the_diagonal():
    prior = beta_binomial_log_prior(torch.tensor([5]), torch.tensor([20]), 5, 20)
    probs = prior[0].exp()
    assert torch.allclose(probs.sum(0), torch.ones(20), atol=1e-5)
    assert probs[:, 0].argmax() == 0 and probs[:, -1].argmax() == 4


def test_forward_sum_prefers_a_diagonal_alignment():
    N, T = 4, 12
    diag = torch.full((1, N, T), -10.0)
    for j in range(T):
        diag[0, j * N // T, j] = 0.0
    anti = diag.flip(1)
    lens = (torch.tensor([N]), torch.tensor([T]))
    assert forward_sum_loss(diag, *lens) < forward_sum_loss(anti, *lens)


def test_expand_and_phoneme_average_are_inverse_on_constant_segments():
    h = torch.tensor([[[1.0], [2.0], [3.0]]])
    d = torch.tensor([[2, 0, 3]])
    x, mask = expand(h, d)
    assert x[0, :, 0].tolist() == [1, 1, 3, 3, 3] and mask.all()
    avg, count = phoneme_average(x[..., 0], d)
    assert avg[0, [0, 2]].tolist() == [1.0, 3.0] and count[0].tolist() == [2, 0, 3]
