#ifndef EXP_CLIBCRYPTO_SHIM_H
#define EXP_CLIBCRYPTO_SHIM_H

/* OpenSSL's libcrypto, for SHA-256 (artifacts) and SHA-1 (large blobs' object ids): it uses
   the CPU's SHA instructions when there are any. */
#include <openssl/evp.h>

/* Makes `destination` share `source`'s blocks (a reflink: copy-on-write, no data copied).
   Returns 0, or -1 (errno EOPNOTSUPP, EXDEV, EINVAL…) when the filesystem cannot.
   FICLONE is `_IOW(0x94, 9, int)`, a macro that does not import into Swift; it is spelled
   out here rather than by including <linux/fs.h> and <sys/ioctl.h>, which would make this
   module, not Glibc, the owner of their declarations (`struct winsize`) in Swift. */
static inline int exp_reflink(int destination, int source) {
#ifdef __linux__
    extern int ioctl(int fd, unsigned long request, ...);
    return ioctl(destination, 0x40049409UL, source);
#else
    (void)destination;
    (void)source;
    return -1;
#endif
}

#endif
