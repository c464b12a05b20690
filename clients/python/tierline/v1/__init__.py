"""Generated code for the tierline.v1 API: run ``make proto``, do not edit the ``*_pb2*`` files."""
