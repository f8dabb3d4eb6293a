/* calib_data.h — calibration data sources (to be implemented). */
#ifndef OGQ_CALIB_DATA_H
#define OGQ_CALIB_DATA_H
#endif
