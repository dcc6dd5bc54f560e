"""Log-mel front end (reference: 16 kHz, 96 mels, n_fft 2048, window 400, hop 160, f_max 8 kHz) and the
features computed from it that the encoder's hand-over pathways read (`spectral_peaks`, `onset_autocorrelation`)."""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from loev_core.config import AudioConfig


class LogMel(nn.Module):
    """Waveform [B, T] -> log-mel [B, 1, n_mels, frames]; float32 even under autocast for stability."""

    def __init__(self, cfg: AudioConfig) -> None:
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length,
            hop_length=cfg.hop_length, f_min=cfg.f_min, f_max=cfg.f_max, n_mels=cfg.n_mels,
            power=2.0, norm="slaney", mel_scale="slaney",
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=wave.device.type, enabled=False):
            spec = self.power_mel(wave.float())
        return torch.log(spec + 1e-6).unsqueeze(1)

    def power_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """torchaudio's MelSpectrogram(power=2) with the same buffers, computed as re^2 + im^2: its
        `abs().pow(2)` takes a square root only to square it again (about 30% slower here)."""
        stft = self.mel.spectrogram
        spec = torch.stft(wave.reshape(-1, wave.shape[-1]), stft.n_fft, stft.hop_length, stft.win_length,
                          stft.window, center=stft.center, pad_mode=stft.pad_mode, normalized=False,
                          onesided=True, return_complex=True)
        re, im = torch.view_as_real(spec).unbind(-1)
        power = (re * re).addcmul_(im, im)  # [N, freq, frames]; one temporary instead of three
        mel = torch.matmul(power.transpose(-1, -2), self.mel.mel_scale.fb).transpose(-1, -2)
        return mel.reshape(*wave.shape[:-1], *mel.shape[-2:])


def spectral_peaks(logmel: torch.Tensor, width: int = 9) -> torch.Tensor:
    """Log-mel [B, 1, F, T] minus its running mean over `width` mel bands.

    What remains are the harmonic peaks, i.e. where the notes are, while the smooth envelope that gain,
    EQ, filters and most noise change is removed. Training on the raw profile taught the branches to
    drop it (those augmentations make it unreliable), and key with it; the peaks survive them."""
    pad = width // 2
    padded = nn.functional.pad(logmel, (0, 0, pad, pad), mode="replicate")
    return logmel - nn.functional.avg_pool2d(padded, (width, 1), stride=1)


def onset_autocorrelation(logmel: torch.Tensor, max_lag: int) -> torch.Tensor:
    """Log-mel [B, 1, F, T] -> [B, max_lag]: autocorrelation of the onset envelope at lags 1..max_lag frames.

    The onset envelope is the mean rise of the log-mel between frames (spectral flux; a gain change
    cancels in the difference). Its autocorrelation peaks at the beat period and its multiples, the
    classic tempo cue (as in librosa's tempo estimate); a time stretch moves those peaks, so the
    invariant heads learn to drop it and a time-stretch-variant branch can keep it. Normalised by lag 0
    and unbiased for the overlap that shrinks with the lag; silence gives zeros."""
    flux = torch.relu(logmel[:, 0, :, 1:] - logmel[:, 0, :, :-1]).mean(1)  # [B, T-1]
    flux = flux - flux.mean(-1, keepdim=True)
    n = flux.shape[-1]
    spec = torch.fft.rfft(flux, 2 * n)
    acf = torch.fft.irfft(spec * spec.conj(), 2 * n)[:, :n]
    acf = acf / acf[:, :1].clamp_min(1e-8) * (n / torch.arange(n, 0, -1, device=acf.device))
    acf = acf[:, 1:max_lag + 1]
    return nn.functional.pad(acf, (0, max_lag - acf.shape[-1]))  # clips shorter than max_lag frames
