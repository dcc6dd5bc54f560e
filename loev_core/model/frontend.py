"""Log-mel front end (reference: 16 kHz, 96 mels, n_fft 2048, window 400, hop 160, f_max 8 kHz) and the
features computed from it that the encoder's hand-over pathways read (`spectral_peaks`, `onset_autocorrelation`)."""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from loev_core.config import AudioConfig

BLOCK_FRAMES = 512  # STFT frames per block on CPU (one 3 s clip; see `LogMel.power_mel`)


class LogMel(nn.Module):
    """Waveform [B, T] -> log-mel [B, 1, n_mels, frames]; float32 even under autocast for stability."""

    def __init__(self, cfg: AudioConfig) -> None:
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length,
            hop_length=cfg.hop_length, f_min=cfg.f_min, f_max=cfg.f_max, n_mels=cfg.n_mels,
            power=2.0, norm="slaney", mel_scale="slaney",
        )
        self._bands: tuple[tuple, list] | None = None  # (key, mel bands), see `_mel_bands`

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=wave.device.type, enabled=False):
            spec = self.power_mel(wave.float())
        return torch.log(spec + 1e-6).unsqueeze(1)

    def power_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """torchaudio's MelSpectrogram(power=2) with the same buffers, computed as re^2 + im^2: its
        `abs().pow(2)` takes a square root only to square it again (about 30% slower here).

        On CPU the frames go through the FFT and the mel matrix in blocks of BLOCK_FRAMES, and each
        mel band multiplies only the FFT bins where its triangle is non-zero (`_mel_bands`): one
        batched STFT of 64 clips writes 160 MB of spectrum that falls out of the cache between the
        FFT, the squares and the matmul, and the dense 1025x96 mel matrix is 98% zeros; blocked and
        banded, the front end is about 3x cheaper. Same values up to float rounding (~1e-6)."""
        if wave.device.type != "cpu" or not self._blockable(wave):
            return self._power_mel_stft(wave)
        stft = self.mel.spectrogram
        n_fft, hop, win = stft.n_fft, stft.hop_length, stft.win_length
        left = (n_fft - win) // 2  # torch.stft centres the window inside the n_fft frame
        flat = wave.reshape(-1, wave.shape[-1])
        n_frames = 1 + (flat.shape[-1] + 2 * (n_fft // 2) - n_fft) // hop
        padded = nn.functional.pad(flat.unsqueeze(1), (n_fft // 2, n_fft // 2), mode=stft.pad_mode).squeeze(1)
        frames = padded[:, left:].unfold(-1, win, hop)[:, :n_frames]  # [N, frames, win], a view
        bands = self._mel_bands()
        n_mels = self.mel.mel_scale.fb.shape[1]
        out = torch.empty(flat.shape[0], n_frames, n_mels)
        rows, step = max(1, BLOCK_FRAMES // n_frames), min(n_frames, BLOCK_FRAMES)
        buf = torch.zeros(min(rows, flat.shape[0]), step, n_fft)  # zero outside the window, as in torch.stft
        for i in range(0, flat.shape[0], rows):
            for j in range(0, n_frames, step):
                src = frames[i:i + rows, j:j + step]
                block = buf[:src.shape[0], :src.shape[1]]
                torch.mul(src, stft.window, out=block[..., left:left + win])
                sq = torch.view_as_real(torch.fft.rfft(block)).square_().flatten(-2)  # re^2, im^2 interleaved
                dst = out[i:i + rows, j:j + step]
                for lo, hi, m0, m1, weights in bands:
                    if weights is None:
                        dst[..., m0:m1] = 0.0
                    else:
                        dst[..., m0:m1] = torch.matmul(sq[..., lo:hi], weights)
        mel = out.transpose(-1, -2)
        return mel.reshape(*wave.shape[:-1], *mel.shape[-2:])

    def _blockable(self, wave: torch.Tensor) -> bool:
        stft = self.mel.spectrogram
        return (stft.center and not stft.normalized and stft.onesided and stft.window is not None
                and stft.window.shape[-1] == stft.win_length and wave.shape[-1] > stft.n_fft // 2
                and not wave.requires_grad)

    def _mel_bands(self, group: int = 16) -> list:
        """The mel matrix in groups of `group` bands: (first, last) column of the interleaved re^2/im^2
        spectrum where any of them is non-zero, the bands, and those rows of the matrix (each row twice,
        for re^2 and im^2; None when all zero). Cached until the buffer changes (load_state_dict, .to)."""
        fb = self.mel.mel_scale.fb
        try:
            key = (fb.data_ptr(), fb._version, fb.device, fb.dtype, group)
        except RuntimeError:  # an inference tensor keeps no version counter: do not cache
            key = None
        if key is not None and self._bands is not None and self._bands[0] == key:
            return self._bands[1]
        bands = []
        with torch.no_grad():
            for m0 in range(0, fb.shape[1], group):
                m1 = min(m0 + group, fb.shape[1])
                used = torch.nonzero(fb[:, m0:m1].ne(0).any(1)).flatten()
                if used.numel() == 0:
                    bands.append((0, 0, m0, m1, None))
                    continue
                lo, hi = int(used[0]), int(used[-1]) + 1
                weights = fb[lo:hi, m0:m1].repeat_interleave(2, dim=0).contiguous()
                bands.append((2 * lo, 2 * hi, m0, m1, weights))
        if key is not None:
            self._bands = (key, bands)
        return bands

    def _power_mel_stft(self, wave: torch.Tensor) -> torch.Tensor:
        """The same in one batched torch.stft (GPU, or settings the blocked path does not cover)."""
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
    pad, n = width // 2, logmel.shape[2]
    padded = nn.functional.pad(logmel, (0, 0, pad, pad), mode="replicate")
    total = padded[:, :, 0:n] + padded[:, :, 1:1 + n]  # avg_pool2d((width, 1))'s sum in its order: the same
    for k in range(2, width):                            # values, 9x faster than its generic kernel here
        total += padded[:, :, k:k + n]
    return logmel - total / width


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
