// Reading a QR code with the tablet's camera (getUserMedia + jsQR): the enrolment code and the
// households' door cards. Frames are read in the page; nothing leaves the device.
import jsQR from 'jsqr';

export async function scan(video, { onText, signal }) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  video.srcObject = stream;
  video.setAttribute('playsinline', '');
  await video.play();
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const stop = () => stream.getTracks().forEach((t) => t.stop());
  signal?.addEventListener('abort', stop);
  return new Promise((resolve) => {
    const tick = () => {
      if (signal?.aborted) { resolve(null); return; }
      if (video.readyState >= 2 && video.videoWidth) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        ctx.drawImage(video, 0, 0);
        const found = jsQR(ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height);
        if (found && found.data && onText(found.data) !== false) { stop(); resolve(found.data); return; }
      }
      setTimeout(tick, 120);
    };
    tick();
  });
}

// Photos are made smaller on the device before they are stored or sent (longest side 1600 px, JPEG).
// Web Forms hands over its files without a type, so a photo is whatever the browser can decode.
export async function resizePhoto(file, maxSide = 1600, quality = 0.82) {
  let bitmap;
  try { bitmap = await createImageBitmap(file); } catch { return file; } // not a picture: kept as it is
  const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  if (scale === 1 && file.type === 'image/jpeg' && file.size < 600 * 1024) return file;
  const canvas = new OffscreenCanvas(Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality });
  return new File([blob], file.name, { type: 'image/jpeg' });
}
