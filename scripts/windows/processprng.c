/* Wine 8 (Debian 12) lacks bcryptprimitives.dll, from which Rust's std (1.78 and
 * later) imports ProcessPrng; without it no Rust program starts under Wine 8. This
 * stand-in exports ProcessPrng on top of RtlGenRandom (advapi32's SystemFunction036).
 * Used only by scripts/check-platforms to run tests under Wine; never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
