/* npy.h — NumPy .npy/.npz reading and writing (to be implemented). */
#ifndef OGQ_NPY_H
#define OGQ_NPY_H
#endif
