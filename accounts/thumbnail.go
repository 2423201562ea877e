package accounts

import (
	"bytes"
	"context"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"github.com/consentkit/consentkit/privacy"
)

// ThumbnailSize is the longest side, in pixels, of a photo's thumbnail.
const ThumbnailSize = 240

// Thumbnail returns a JPEG of the photo id at most ThumbnailSize pixels on its
// longest side, made from the stored photo (already cleaned of metadata) on
// request, so nothing more is stored. A photo smaller than that is scaled to no
// larger than it is; transparent parts become white. It takes a photo slot to
// decode, as an upload does. Returns what GetResource returns, ErrInvalid naming
// "id" for a resource that is not a photo, and ErrUnavailable when no slot came
// free in time.
func (s *Service) Thumbnail(ctx context.Context, id string) ([]byte, error) {
	r, err := s.GetResource(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Kind != KindPhoto {
		return nil, privacy.Invalid("id", "only a photo has a thumbnail")
	}
	release, err := s.photoSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var src image.Image
	switch r.ContentType {
	case "image/jpeg":
		src, err = jpeg.Decode(bytes.NewReader(r.Data))
	case "image/png":
		src, err = png.Decode(bytes.NewReader(r.Data))
	case "image/gif":
		src, err = gif.Decode(bytes.NewReader(r.Data))
	case "image/webp":
		src, err = webp.Decode(bytes.NewReader(r.Data))
	default:
		return nil, privacy.Invalid("id", "this photo's type has no thumbnail")
	}
	if err != nil {
		return nil, err // a stored photo was checked at upload: this is internal
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if long := max(w, h); long > ThumbnailSize {
		w, h = max(1, w*ThumbnailSize/long), max(1, h*ThumbnailSize/long)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), src, b, draw.Over, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 82}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
