"""Log-mel front end (reference: 16 kHz, 96 mels, n_fft 2048, window 400, hop 160, f_max 8 kHz)."""

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
