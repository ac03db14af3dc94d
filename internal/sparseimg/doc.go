// Package sparseimg packs disk images into a small compressed sparse
// format and unpacks them into sparse files. The project's test fixtures
// (testdata/*.img.sgz) are stored this way: multi-gigabyte Windows disk
// images whose few non-zero blocks compress to a few hundred KiB.
//
// # Format
//
// A packed image is one gzip stream. Uncompressed, it holds, with every
// integer little-endian:
//
//	header:  magic "WRSPIMG\x00" (8 bytes), version uint32 (1),
//	         block size uint32 (4096), image size uint64 (bytes)
//	records: tag 'D' (1 byte), offset uint64, length uint32, length bytes of data
//	end:     tag 'E' (1 byte), SHA-256 digest (32 bytes)
//
// Data records cover exactly the 4096-byte blocks of the image that are
// not all zero, in increasing offset order; adjacent non-zero blocks are
// merged into one record of at most [MaxRecord] bytes, and a run longer
// than that continues in the next record. Everything else is zero. The
// last block may be shorter than 4096 bytes when the image size is not a
// multiple of the block size. This canonical form makes the packed
// content a function of the image alone.
//
// The digest is the SHA-256 of the uncompressed stream from the first byte
// of the header to the end tag (exclusive). Because the stream is
// canonical, the digest identifies the expanded image: two images have the
// same digest exactly when they have the same bytes. [Digest] computes it
// from an image. It is deliberately not the SHA-256 of the expanded image
// itself: hashing gigabytes of zeros would cost seconds per unpack, and
// tests unpack fixtures often.
//
// # Security
//
// Packed images are untrusted input. [Unpack] bounds every length before
// using it (image size at most [MaxImageSize], records at most
// [MaxRecord] bytes, in order and inside the image), never allocates more
// than a fixed 1 MiB buffer, rejects non-canonical streams and trailing
// data, and verifies the digest. It writes data before the digest is
// checked, so on error the destination holds partial content and must be
// discarded.
package sparseimg
